"""python -m fundiff.demo: a reduced run writes a page whose pictures all exist and decode; code that is
not written yet degrades to "not implemented yet: <function>" while the other sections still render;
headless Chromium renders the page (skipped where ``chromium`` is not installed)."""
from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from fundiff import demo
from fundiff.impl import ROOT

SECTIONS = ["A1.1", "A1.3", "B1.2"]


def bundled_available() -> bool:
    from fundiff.models.mnist import BUNDLED_DIR

    return (BUNDLED_DIR / "unet" / "config.json").is_file() or bool(os.environ.get("FUNDIFF_TEST_BUNDLED"))


needs_bundled = pytest.mark.skipif(not bundled_available(), reason="the bundled model (data/bundled/) is not there")
needs_solutions = pytest.mark.skipif(not (ROOT / "solutions" / "denoise.py").is_file(),
                                     reason="solutions/ is withheld here")


def run_demo(out: Path, *extra: str) -> int:
    """The quick demo of SECTIONS on the bundled model, in one process unless ``extra`` says --jobs."""
    argv = ["--out", str(out), "--quick", "--sections", *SECTIONS, "--model", "bundled", *extra]
    if "--jobs" not in extra:
        argv += ["--jobs", "1"]
    if os.environ.get("FUNDIFF_TEST_BUNDLED"):  # another copy of the bundled model (development)
        argv += ["--bundled-path", os.environ["FUNDIFF_TEST_BUNDLED"]]
    return demo.main(argv)


class Page(HTMLParser):
    """The <img src>s of the page and the text of each <section id>."""

    def __init__(self, text: str):
        super().__init__()
        self.images, self.sections, self._current = [], {}, None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append((self._current, attrs["src"]))
        if tag == "section":
            self._current = attrs["id"]
            self.sections[self._current] = ""

    def handle_endtag(self, tag):
        if tag == "section":
            self._current = None

    def handle_data(self, data):
        if self._current:
            self.sections[self._current] += data


def section_id(sid: str) -> str:
    return "s-" + sid.replace(".", "-")


@pytest.fixture(scope="module")
def solutions_page(tmp_path_factory):
    if not bundled_available():
        pytest.skip("the bundled model (data/bundled/) is not there")
    if not (ROOT / "solutions" / "denoise.py").is_file():
        pytest.skip("solutions/ is withheld here")
    out = tmp_path_factory.mktemp("demo")
    assert run_demo(out, "--jobs", "2") == 0  # Part B in a second process (the default on a 2-core CPU)
    return out


def check_images_decode(out: Path, page: Page) -> None:
    from PIL import Image

    assert page.images, "the page shows no pictures"
    for _, src in page.images:
        assert not src.startswith(("/", "http:", "https:", "file:")), f"{src} is not relative to the page"
        path = out / src
        assert path.is_file(), f"the page references {src}, which is not beside it"
        with Image.open(path) as im:
            im.load()
            smallest = 7 if "hybrids_small" in src else 28  # hybrids seen from afar: down to a quarter of 28 px
            assert im.size[0] >= smallest and im.size[1] >= smallest, f"{src} is only {im.size}"


@needs_bundled
def test_page_is_written_and_every_picture_decodes(solutions_page):
    html = (solutions_page / "index.html").read_text()
    page = Page(html)
    check_images_decode(solutions_page, page)
    for sid in SECTIONS:
        assert section_id(sid) in page.sections, f"section {sid} missing from the page"
        assert "not implemented yet" not in page.sections[section_id(sid)]
        assert any(s == section_id(sid) for s, _ in page.images), f"section {sid} shows no picture"
    assert "t = 250" in page.sections[section_id("A1.1")] and "σ = 0.5" in page.sections[section_id("B1.2")]
    timings = json.loads((solutions_page / "timings.json").read_text())
    assert set(timings["sections"]) >= set(SECTIONS) and timings["total_s"] > 0
    assert timings["processes"] == 2 and all(v["status"] == "ok" for v in timings["sections"].values())
    assert list(page.sections) == [section_id(s.id) for s in demo.select_sections(SECTIONS)], "in course order"


@needs_bundled
@needs_solutions
def test_a_second_process_that_dies_leaves_its_sections_as_errors(tmp_path):
    """If the Part B process dies (here: its unet.py exits the interpreter on import), Part A's sections
    are still shown and Part B's say what happened; the run does not hang."""
    impl = tmp_path / "impl"
    shutil.copytree(ROOT / "solutions", impl, ignore=shutil.ignore_patterns("__pycache__"))
    (impl / "unet.py").write_text("import os\nos._exit(3)\n")
    out = tmp_path / "page"
    assert run_demo(out, "--impl", str(impl), "--jobs", "2") == 0
    status = json.loads((out / "timings.json").read_text())["sections"]
    assert status["A1.1"]["status"] == "ok" and status["B1.2"]["status"] == "error"
    page = Page((out / "index.html").read_text())
    assert "ended with exit code 3" in page.sections[section_id("B1.2")]


def fake_impl(tmp_path: Path, module: str, function: str, message: str) -> Path:
    """A copy of solutions/ in which ``module.function`` raises NotImplementedError (as a stub does)."""
    impl = tmp_path / "impl"
    shutil.copytree(ROOT / "solutions", impl, ignore=shutil.ignore_patterns("__pycache__"))
    src = (impl / f"{module}.py").read_text()
    src, n = re.subn(rf"(\ndef {function}\(.*?\).*?:\n(?:    \"\"\"[\s\S]*?\"\"\"\n)?)",
                     lambda m: m.group(1) + f"    raise NotImplementedError({message!r})\n", src, count=1)
    assert n == 1, f"no function {function} in {module}.py"
    (impl / f"{module}.py").write_text(src)
    return impl


@needs_bundled
@needs_solutions
def test_an_unimplemented_function_degrades_only_its_section(tmp_path):
    impl = fake_impl(tmp_path, "denoise", "estimate_x0", "A1.3: invert the forward process")
    out = tmp_path / "page"
    assert run_demo(out, "--impl", str(impl)) == 0
    page = Page((out / "index.html").read_text())
    a13 = page.sections[section_id("A1.3")]
    assert "not implemented yet: denoise.estimate_x0" in a13
    assert not any(s == section_id("A1.3") for s, _ in page.images)
    for sid in ("A1.1", "B1.2"):
        assert "not implemented yet" not in page.sections[section_id(sid)]
        assert any(s == section_id(sid) for s, _ in page.images), f"{sid} should still show its pictures"
    check_images_decode(out, page)
    status = json.loads((out / "timings.json").read_text())["sections"]
    assert status["A1.3"]["status"] == "missing" and status["A1.1"]["status"] == "ok"


@needs_solutions
def test_a_missing_function_and_an_error_are_reported_not_raised(tmp_path):
    """guarded(): a function absent from the module reads 'not implemented yet', any other exception
    becomes an error item; neither propagates."""
    args = demo.parse_args(["--out", str(tmp_path)])
    from fundiff.impl import load_impl

    ctx = demo.Ctx(args=args, out=tmp_path, impl=load_impl("solutions"), device="cpu")
    assert demo.guarded(ctx, lambda: ctx.f("denoise.no_such_function")) == "missing"
    assert ctx.items[-1]["text"].startswith("not implemented yet: denoise.no_such_function")

    def boom():
        raise ValueError("bad shape")

    assert demo.guarded(ctx, boom) == "error"
    assert "ValueError: bad shape" in ctx.items[-1]["text"]


def test_sections_are_selected_by_id_or_prefix():
    assert [s.id for s in demo.select_sections(["A1.7"])] == ["A1.7", "A1.7.1", "A1.7.2", "A1.7.3"]
    assert [s.id for s in demo.select_sections(["B2.5", "A0"])] == ["A0", "B2.5"]
    assert all(s.id.startswith("B") for s in demo.select_sections(["B"]))
    with pytest.raises(SystemExit, match="unknown section"):
        demo.select_sections(["A9"])


def test_deepfloyd_without_a_gpu_gives_a_clear_message(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert demo.main(["--model", "deepfloyd", "--out", "unused"]) == 2
    err = capsys.readouterr().err
    assert "CUDA GPU" in err and "without --model" in err


@needs_solutions
@pytest.mark.slow
def test_train_flag_trains_part_b_then_shows_it(tmp_path, monkeypatch):
    """--train: the section's model is trained from scratch (here a tiny one-epoch denoiser) and its
    checkpoint and loss curve are what the page shows."""
    import fundiff.train as train

    monkeypatch.setitem(train.COURSE, "denoiser",
                        replace(train.COURSE["denoiser"], hidden=8, epochs=1, sample_epochs=(1,), batch_size=512))
    monkeypatch.setattr(train, "write_samples", lambda *a, **k: [])
    out = tmp_path / "page"
    assert demo.main(["--out", str(out), "--quick", "--sections", "B1.2", "--train", "--model", "bundled"]) == 0
    assert (out / "train" / "denoiser" / "epoch_001.safetensors").is_file()
    page = Page((out / "index.html").read_text())
    text = page.sections[section_id("B1.2")]
    assert "After epoch 1" in text and "Training loss" in text and "error" not in text.lower()
    check_images_decode(out, page)


@needs_bundled
def test_headless_chromium_renders_the_page(solutions_page, tmp_path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("chromium is not installed (apt-get install chromium)")
    from PIL import Image

    shot = tmp_path / "page.png"
    cmd = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", f"--screenshot={shot}", "--window-size=1200,3000",
           (solutions_page / "index.html").resolve().as_uri()]
    subprocess.run(cmd, capture_output=True, timeout=120, check=False)
    assert shot.is_file(), "chromium wrote no screenshot"
    with Image.open(shot) as im:
        rgb = im.convert("RGB")
        assert rgb.size == (1200, 3000)
        small = rgb.resize((300, 750))
    import numpy as np

    pixels = np.asarray(small).reshape(-1, 3).astype(int)
    dark = float((pixels.sum(1) < 120).mean())
    colours = len({tuple(p) for p in pixels})
    # the digits (white on black) and the text make a page that is neither blank nor one colour
    assert dark > 0.01, f"the screenshot is almost blank ({dark:.1%} dark pixels)"
    assert colours > 50, f"the screenshot has only {colours} colours"


@needs_solutions
def test_an_if_shaped_model_runs_part_a(tmp_path):
    """--model deepfloyd code path (3 channels, learned variance, T5-embedding prompts mapped onto the
    ones the embedding file holds) on a tiny IF-shaped pipeline, on the CPU."""
    from fundiff.models import save_tiny_if

    save_tiny_if(tmp_path / "if")
    out = tmp_path / "page"
    assert demo.main(["--out", str(out), "--quick", "--model", "deepfloyd", "--device", "cpu",
                      "--deepfloyd-path", str(tmp_path / "if"), "--prompt-embeds", str(tmp_path / "if" / "prompt_embeds.pth"),
                      "--sections", "A1.3", "A1.8"]) == 0
    page = Page((out / "index.html").read_text())
    for sid in ("A1.3", "A1.8"):
        text = page.sections[section_id(sid)]
        assert "not implemented yet" not in text and "Error" not in text, text[:500]
    check_images_decode(out, page)


@needs_solutions
@pytest.mark.skipif(not (Path(__file__).resolve().parents[1] / "data" / "emoji" / "unet").is_dir(),
                    reason="the emoji model is not shipped")
def test_the_emoji_model_runs_part_a(tmp_path):
    """--model emoji: the colour, text-conditioned, learned-variance model through the Part A sections
    that use its photo, sketches, an anagram view other than the flip, hybrids seen from afar, and the
    credit line."""
    from PIL import Image

    out = tmp_path / "page"
    assert demo.main(["--out", str(out), "--quick", "--model", "emoji", "--device", "cpu",
                      "--sections", "A1.7.2", "A1.8", "A1.9"]) == 0
    html_text = (out / "index.html").read_text()
    page = Page(html_text)
    for sid in ("A1.7.2", "A1.8", "A1.9"):
        text = page.sections[section_id(sid)]
        assert "not implemented yet" not in text and "Error" not in text, text[:500]
    a18 = page.sections[section_id("A1.8")]
    assert "rotated 180°" in a18  # the quick plan's second view: pear ↔ light bulb
    # the first row is tuned: its scales and the fire's negative prompt, as ANAGRAM_PAIRS has them
    assert "tuned: γ 6 / 10, 'fire' away from 'slice of pizza' by β 3" in html.unescape(a18), a18[:800]
    small = [src for _, src in page.images if "hybrids_small" in src]
    sizes = set()
    for src in small:
        with Image.open(out / src) as im:
            sizes.add(im.size)
    assert sizes == {(32, 32), (16, 16), (8, 8)}, sizes  # each hybrid at full, half and quarter size
    assert "Noto Emoji" in html_text and "Twemoji" in html_text
    check_images_decode(out, page)


@needs_solutions
def test_a_64px_emoji_model_runs_part_a(tmp_path):
    """A model trained at IF stage 1's size (``fundiff.emoji.train --size 64``, here a tiny one for two
    steps) goes through the same Part A sections: its photo and sketches at 64 px, the anagram views, and
    its hybrids seen from afar at 64, 32 and 16 px."""
    import sys

    from PIL import Image

    m = tmp_path / "emoji64"
    run = subprocess.run([sys.executable, "-m", "fundiff.emoji.train", "--size", "64", "--tiny", "--no-progress",
                          "--threads", "1", "--steps", "2", "--batch-size", "4", "--out", str(m), "--work",
                          str(tmp_path / "work")], cwd=ROOT, capture_output=True, text=True, timeout=280)
    assert run.returncode == 0, run.stderr[-2000:]
    shutil.copy(ROOT / "data" / "emoji" / "prompt_embeds.safetensors", m)
    out = tmp_path / "page"
    assert demo.main(["--out", str(out), "--quick", "--model", "emoji", "--emoji-path", str(m), "--device", "cpu",
                      "--sections", "A1.7.2", "A1.8", "A1.9"]) == 0
    page = Page((out / "index.html").read_text())
    for sid in ("A1.7.2", "A1.8", "A1.9"):
        text = page.sections[section_id(sid)]
        assert "not implemented yet" not in text and "Error" not in text, text[:500]
    sizes = set()
    for _, src in page.images:
        with Image.open(out / src) as im:
            if "hybrids_small" in src:
                sizes.add(im.size)
    assert sizes == {(64, 64), (32, 32), (16, 16)}, sizes
    check_images_decode(out, page)
