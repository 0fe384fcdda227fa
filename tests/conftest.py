pytest_plugins = ["fundiff.grading.plugin"]
