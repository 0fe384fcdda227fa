"""No false fails: correct implementations written differently from solutions/ (tests/variants/) score
full marks, and the float32 error they show against the references is well inside the tolerances."""
import shutil

import pytest

from fundiff.impl import ROOT, load_impl

VARIANTS = ROOT / "tests" / "variants"
MODULES = ("forward", "denoise", "guidance", "train", "unet")


def variant_impl(name: str, folder):
    """solutions/ with tests/variants/<name>/<module>.py appended to each module (its functions
    replace the solutions' of the same name), loaded in-process."""
    if not (ROOT / "solutions").is_dir():
        pytest.skip("solutions/ withheld")
    folder.mkdir()
    for module in MODULES:
        src = (ROOT / "solutions" / f"{module}.py").read_text()
        extra = VARIANTS / name / f"{module}.py"
        (folder / f"{module}.py").write_text(src + (extra.read_text() if extra.is_file() else ""))
    shutil.copy2(ROOT / "solutions" / "__init__.py", folder / "__init__.py")
    return load_impl(folder)


def replaced(name: str) -> list[str]:
    """The functions a variant set replaces ('module.name')."""
    import re

    out = []
    for module in MODULES:
        path = VARIANTS / name / f"{module}.py"
        if path.is_file():
            out += [f"{module}.{f}" for f in re.findall(r"^def ([a-z]\w*)", path.read_text(), re.M)]
    return out


@pytest.mark.parametrize("name", ["one", "two"])
def test_correct_variants_score_full_marks(name, tmp_path, capsys):
    from fundiff.grading.selfcheck import grade, max_error_ratio

    impl = variant_impl(name, tmp_path / name)
    results = grade(impl)
    failed = [f"{r.test}: {r.message}" for r in results if not r.passed]
    assert not failed, f"variant set {name} ({', '.join(replaced(name))}) lost points:\n" + "\n".join(failed)
    assert len(results) >= 70
    ratios = max_error_ratio(impl)
    worst = sorted(ratios.items(), key=lambda kv: -kv[1])[:5]
    with capsys.disabled():
        print(f"\nvariant set {name}: {len(replaced(name))} functions, full marks; largest share of a case's "
              f"tolerance used: " + ", ".join(f"{k} {v:.2g}" for k, v in worst))
    # a margin: no correct variant comes within a factor 4 of a tolerance
    assert all(v <= 0.25 for v in ratios.values()), worst
