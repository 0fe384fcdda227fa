"""CI (.ci/run) runs exactly the README's install and test commands, after the system packages."""
from fundiff.impl import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```bash\n", 1)[1].split("```", 1)[0]
    return [line.split("#", 1)[0].strip() for line in block.splitlines() if line.split("#", 1)[0].strip()]


def test_ci_runs_the_readme_install_and_test_commands():
    script = (ROOT / ".ci" / "run").read_text()
    tail = script.split("# --- the README's commands", 1)[1].splitlines()[1:]
    commands = [line.strip() for line in tail if line.strip() and not line.strip().startswith("#")]
    assert commands == readme_commands()[:2], (commands, readme_commands()[:2])
    assert "apt-get install" in script and "chromium" in script
