# The grading plugin (fundiff.grading.plugin) is loaded wherever fundiff is installed, by the
# pytest11 entry point `fundiff` in setup.cfg, so --impl and --gradescope work from any folder.
