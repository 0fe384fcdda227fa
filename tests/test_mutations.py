"""Prove the blame: bugs planted one at a time in a copy of solutions/, each graded in-process
(fundiff.grading.selfcheck).  Each must lose points in its own section, and every failing test,
in any section, must name the planted function first."""
import shutil

import pytest

from fundiff.impl import ROOT, load_impl

#: (function, its section, module, the correct line, the planted bug): realistic student slips
MUTANTS = [
    ("forward.abar_at", "A1.1", "forward", "a = abar[t.long() + 1]", "a = abar[t.long()]"),
    ("denoise.estimate_x0", "A1.3", "denoise", "return (x_t - (1 - abar).sqrt() * eps) / abar.sqrt()",
     "return (x_t - (1 - abar).sqrt() * eps) / abar"),
    ("denoise.denoise_step", "A1.4", "denoise", "return mean + var.sqrt() * z", "return mean + var * z"),
    ("denoise.iterative_denoise", "A1.4", "denoise", "x = denoise_step(x, eps, v, t, t_prev, alphas_cumprod, z)",
     "x = denoise_step(x, eps, None, t, t_prev, alphas_cumprod, z)"),
    ("guidance.cfg_estimator", "A1.6", "guidance", "return eps_u + guidance_scale * (eps_c - eps_u), v_c",
     "return eps_c + guidance_scale * (eps_c - eps_u), v_c"),
    ("guidance.flip_upside_down", "A1.8", "guidance", "return torch.flip(x, dims=[-2])",
     "return torch.flip(x, dims=[-1])"),
    ("guidance.highpass", "A1.9", "guidance", "return x - lowpass(x, kernel_size, sigma)",
     "return lowpass(x, kernel_size, sigma) - x"),
    ("unet.conv", "B1.1", "unet", "nn.Conv2d(in_channels, out_channels, 3, 1, 1), nn.BatchNorm2d(out_channels), nn.GELU()",
     "nn.Conv2d(in_channels, out_channels, 3, 1, 1), nn.BatchNorm2d(out_channels), nn.ReLU()"),
    ("train.normalize_t", "B2.1", "train", "return t.float() / (num_ts - 1)", "return t.float() / num_ts"),
    ("train.ddpm_step", "B2.3", "train", 'return mean + schedule["betas"][t].sqrt() * z',
     'return mean + schedule["betas"][t] * z'),
]


def mutant_impl(folder, module: str, right: str, wrong: str):
    if not (ROOT / "solutions").is_dir():
        pytest.skip("solutions/ withheld")
    shutil.copytree(ROOT / "solutions", folder, ignore=shutil.ignore_patterns("__pycache__"))
    src = (folder / f"{module}.py").read_text()
    assert src.count(right) == 1, f"the line to mutate is not in solutions/{module}.py once: {right}"
    (folder / f"{module}.py").write_text(src.replace(right, wrong))
    return load_impl(folder)


def affected_sections(fn: str) -> set:
    """The section of ``fn``, of every graded function that depends on it, and of every reference
    case that calls one of them (only those tests can fail: the others are not run)."""
    from fundiff.grading.blame import UNITS, closure
    from fundiff.grading.cases import all_cases

    users = {g for g in UNITS if fn in closure([g])}
    return {UNITS[g][0] for g in users} | {c.section for c in all_cases().values()
                                           if users & set(closure(c.all_functions))}


def test_every_planted_bug_loses_points_in_its_section_and_is_named_first(tmp_path, capsys):
    from fundiff.grading.selfcheck import first_function, grade

    report, wrong = [], []
    for i, (fn, section, module, right, bug) in enumerate(MUTANTS):
        results = grade(mutant_impl(tmp_path / f"m{i}", module, right, bug), sections=affected_sections(fn))
        failed = [r for r in results if not r.passed]
        lost = sum(r.points for r in failed if r.section == section)
        named = [r for r in failed if first_function(r.message) == fn]
        first_ok = bool(failed) and first_function(failed[0].message) == fn
        report.append(f"  {fn:<28} {section:<5} −{lost:g} points in {section}; {len(failed)} failing tests in "
                      f"{len({r.section for r in failed})} sections, {len(named)} name it first; "
                      f"first message: {'right' if first_ok else 'WRONG'}")
        if not lost:
            wrong.append(f"{fn}: no points lost in {section}")
        wrong += [f"{fn} planted, but {r.test} names {first_function(r.message)} first:\n{r.message}"
                  for r in failed if r not in named]
    with capsys.disabled():
        ok = sum("first message: right" in line for line in report)
        print(f"\nplanted bugs: {len(MUTANTS)}, named first in the first failing message: {ok}\n" + "\n".join(report))
    assert not wrong, "\n".join(wrong)


def test_the_plugin_names_the_dependency_first_for_a_submission(tmp_path):
    """through the real grader (pytest --impl, the submission in a process of its own): a wrong
    denoise_step makes both A1.5 tests say first that denoise_step fails its own check, with A1.4's
    hint, and the score table says where to start"""
    import subprocess
    import sys

    fn, section, module, right, bug = MUTANTS[2]
    mutant_impl(tmp_path / "student", module, right, bug)
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "graded",
                          "-k", "A1.5", "--impl", str(tmp_path / "student"), str(ROOT / "tests" / "test_a15_sampling.py")],
                         capture_output=True, text=True, cwd=ROOT, timeout=600)
    text = out.stdout + out.stderr
    assert "[A1.5] fails because denoise.denoise_step fails its own check — fix A1.4 first" in text, text[-3000:]
    assert "hint (A1.4): x̂0 = estimate_x0" in text, text[-3000:]
    assert "fix denoise.denoise_step (A1.4) first: 2 failing test(s) of A1.5 (3 points)" in text, text[-3000:]
