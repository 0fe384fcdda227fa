# The grading plugin (fundiff.grading.plugin) is loaded by setup.cfg (addopts = -p ...), so that
# --impl and --gradescope work from the repository root with or without a path argument.
