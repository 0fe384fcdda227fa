# The grading plugin (fundiff.grading.plugin) is loaded wherever fundiff is installed, by the
# pytest11 entry point `fundiff` in setup.cfg, so --impl and --gradescope work from any folder.

import pytest


@pytest.fixture(scope="session")
def emoji_model():
    """The shipped emoji model (data/emoji), on the CPU, loaded once for the tests of test_emoji*.py."""
    from fundiff.models import load_pretrained

    return load_pretrained("emoji", device="cpu")
