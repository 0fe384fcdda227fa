"""DeepFloyd IF at its real size, offline: the course's whole Part A through fundiff in fp16, 64 → 256 px.

Builds stage 1 and stage 2 (IF-II-L) from the real configs written down in fundiff.models.deepfloyd,
with random weights (no hub, no licence), writes them with ``save_pretrained`` together with a prompt-
embedding file in the course's format (fp16 (1, 77, 4096), "" included), loads them back through the
user's code path (``load_pretrained("deepfloyd", path=…, prompt_embeds=…, stage2=…)``), then runs every
Part A section of the demo (A0 … A1.9, with solutions/) and stage 2 on 64 px CFG samples of our own
loop (20 steps as Part 0, 30 as elsewhere), printing the seconds and the peak GPU memory of each.

Random weights draw noise: this checks that the code runs at the real size, in fp16, within memory and
time, not what the pictures look like.

Stage 1: IF-I-L's own config.json could not be read when the configs were written down (no hub access;
no public copy found), so by default stage 1 is built from IF-I-XL's config (4.3B parameters, larger
than IF-I-L's 0.9B: an upper bound on memory and time); ``--stage1-config`` takes IF-I-L's
``unet/config.json`` (from the hub, once its licence is accepted) to build the course's stage 1 itself.

    python tools/if_real_size_check.py                         # on a CUDA GPU (~12 GB disk for the weights)
    python tools/if_real_size_check.py --stage1-config PATH/IF-I-L-v1.0/unet/config.json
    python tools/if_real_size_check.py --tiny --device cpu --quick --sections A1.3   # a quick CPU check

Exit status 0 when every section ran ("ok"), 1 otherwise.
"""
from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fundiff.models import deepfloyd as df  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--out", help="working folder (weights, page); default: a temporary one, removed after")
    p.add_argument("--stage1-config", help="a stage-1 unet/config.json (e.g. IF-I-L's); default IF-I-XL's")
    p.add_argument("--tiny", action="store_true", help="the scaled-down configs of the tests (CPU check)")
    p.add_argument("--sections", nargs="+", default=["A"], help="demo sections (default: all of Part A)")
    p.add_argument("--quick", action="store_true", help="the demo's reduced run (fewer pictures)")
    p.add_argument("--samples", type=int, default=2, help="64 px CFG samples upsampled by stage 2 (default 2)")
    p.add_argument("--stride", type=int, default=30, help="timestep stride of the samples upsampled (course: 30)")
    p.add_argument("--upsample-steps", type=int, nargs="+",
                   default=[df.UPSAMPLE_STEPS_PART0, df.UPSAMPLE_STEPS],
                   help=f"stage-2 step counts (default {df.UPSAMPLE_STEPS_PART0} as Part 0, {df.UPSAMPLE_STEPS} as elsewhere)")
    return p.parse_args(argv)


class Meter:
    """Seconds and peak memory (GPU: torch.cuda.max_memory_allocated; CPU: the process's max RSS)."""

    def __init__(self, device: torch.device):
        self.device, self.rows = device, []

    def start(self):
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
        self.t0 = time.perf_counter()

    def stop(self, name: str, status: str = "ok") -> dict:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device) / 2**30
            held = torch.cuda.memory_allocated(self.device) / 2**30
            mem = f"peak {peak:6.2f} GiB, held {held:6.2f} GiB"
        else:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
            mem = f"max RSS {peak:6.2f} GiB"
        row = {"section": name, "status": status, "seconds": round(time.perf_counter() - self.t0, 2),
               "peak_gib": round(peak, 3)}
        self.rows.append(row)
        print(f"== {name:22s} {status:8s} {row['seconds']:8.1f} s   {mem}", flush=True)
        return row


def stage1_config(args) -> tuple[dict, str]:
    if args.stage1_config:
        cfg = {k: v for k, v in json.loads(Path(args.stage1_config).read_text()).items() if not k.startswith("_")}
        name = f"stage 1 from {args.stage1_config}"
    else:
        cfg, name = dict(df.IF_I_XL_UNET_CONFIG), "stage 1 from IF-I-XL's config (IF-I-L's not written down)"
    if args.tiny:
        cfg, name = df.scaled_down(cfg), name + ", scaled down"
    return cfg, name


def build(args, work: Path, device: torch.device, meter: Meter) -> tuple[Path, Path, Path]:
    """Random-weight stage 1 and stage 2 from the real configs, written with save_pretrained."""
    from diffusers import DDPMScheduler, IFSuperResolutionPipeline, UNet2DConditionModel

    from fundiff.demo.part_a.setup import PLANS

    dtype = torch.float16 if device.type == "cuda" else torch.float32
    cfg1, name1 = stage1_config(args)
    cfg2 = df.scaled_down(df.IF_II_L_UNET_CONFIG, sample_size=64) if args.tiny else dict(df.IF_II_L_UNET_CONFIG)
    s1, s2 = work / "stage1", work / "stage2"
    for folder, cfg, label in ((s1, cfg1, name1), (s2, cfg2, "stage 2 from IF-II-L's config" + (", scaled down" if args.tiny else ""))):
        meter.start()
        torch.manual_seed(0)
        with torch.device(device):  # initialised where it runs: a 4.3B-parameter init on the CPU takes minutes
            unet = UNet2DConditionModel(**cfg)
        unet = unet.to(dtype).eval()
        n = sum(p.numel() for p in unet.parameters())
        if folder is s1:
            unet.save_pretrained(folder / "unet")
            DDPMScheduler(**df.IF_STAGE1_SCHEDULER_CONFIG).save_pretrained(folder / "scheduler")
        else:
            IFSuperResolutionPipeline(tokenizer=None, text_encoder=None, unet=unet,
                                      scheduler=DDPMScheduler(**df.IF_STAGE2_SCHEDULER_CONFIG),
                                      image_noising_scheduler=DDPMScheduler(**df.IF_IMAGE_NOISING_SCHEDULER_CONFIG),
                                      safety_checker=None, feature_extractor=None, watermarker=None,
                                      requires_safety_checker=False).save_pretrained(folder)
        del unet
        if device.type == "cuda":
            torch.cuda.empty_cache()
        meter.stop(f"build+save {folder.name}")
        print(f"   {label}: {n / 1e9:.3f}B parameters, {cfg['sample_size']} px", flush=True)
    plan = PLANS["deepfloyd"]
    prompts = {"", plan["generic"], plan["img2img_prompt"], *plan["a0_prompts"], *plan["cfg_prompts"],
               *(p for pair in plan["anagrams"] + plan["hybrids"] for p in pair[:2])}
    g = torch.Generator().manual_seed(1)
    width = cfg1["encoder_hid_dim"]
    embeds = {p: (0.2 * torch.randn(1, 77, width, generator=g)).half() for p in sorted(prompts)}  # the course's format
    torch.save(embeds, work / "prompt_embeds.pth")
    return s1, s2, work / "prompt_embeds.pth"


def main(argv=None) -> int:
    args = parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("no CUDA device: run on a GPU, or with --tiny --device cpu", file=sys.stderr)
        return 2
    meter = Meter(device)
    tmp = None if args.out else tempfile.TemporaryDirectory(prefix="if-real-")
    work = Path(args.out or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, device {device}"
          + (f" ({torch.cuda.get_device_name(device)})" if device.type == "cuda" else "") + f", work {work}", flush=True)
    try:
        return run(args, work, device, meter)
    finally:
        print("\nsection                  status    seconds   peak GiB")
        for r in meter.rows:
            print(f"{r['section']:24s} {r['status']:8s} {r['seconds']:8.1f}   {r['peak_gib']:8.2f}")
        if tmp is not None:
            tmp.cleanup()


def run(args, work: Path, device: torch.device, meter: Meter) -> int:
    from fundiff.demo.cli import parse_args as demo_args
    from fundiff.demo.cli import run_section
    from fundiff.demo.context import Ctx
    from fundiff.demo.page import write_page
    from fundiff.demo.sections import PARTS, select_sections
    from fundiff.impl import load_impl
    from fundiff.models import load_pretrained

    s1, s2, embeds = build(args, work, device, meter)
    meter.start()
    model = load_pretrained("deepfloyd", device=device, path=str(s1), prompt_embeds=embeds, stage2=str(s2))
    meter.stop("load (fundiff loader)")
    print(f"   {model!r}; stage 2 → {model.stage2.unet.config.sample_size} px", flush=True)

    dargs = demo_args(["--model", "deepfloyd", "--deepfloyd-path", str(s1), "--prompt-embeds", str(embeds),
                       "--device", str(device), "--out", str(work / "page"), *(["--quick"] if args.quick else [])])
    if dargs.fast is None:
        from fundiff.fast import default_enabled

        dargs.fast = default_enabled(device)
    impl = load_impl("solutions")
    ctx = Ctx(args=dargs, out=work / "page", impl=impl, device=device)
    (ctx.out / "images").mkdir(parents=True, exist_ok=True)
    ctx._model = model  # the model loaded above, stage 2 included
    sections = select_sections(args.sections)
    results, failed = [], 0
    for i, sec in enumerate(sections, 1):
        meter.start()
        rec = run_section(ctx, sec, i, len(sections))
        meter.stop(sec.id, rec["status"])
        results.append(rec)
        failed += rec["status"] != "ok"  # the guard has printed what went wrong
    write_page(ctx.out / "index.html", "DeepFloyd IF at real size (random weights)", [], results, PARTS)

    # stage 2 on what our own (unthresholded) loop makes: CFG samples at γ = 7
    meter.start()
    prompt = ctx.plan["cfg_prompts"][0]
    est = impl.guidance.cfg_estimator(model.estimator(prompt), model.estimator(""), 7.0)
    x = impl.denoise.sample(est, (args.samples, *model.image_shape), impl.denoise.strided_timesteps(990, args.stride),
                            model.alphas_cumprod, torch.Generator().manual_seed(180), device=device)
    meter.stop(f"A1.6 {args.samples} samples {model.image_shape[-1]}px")
    print(f"   values in [{float(x.min()):.3g}, {float(x.max()):.3g}]: random weights at γ = 7 leave [-1, 1] far behind;"
          " squashed into [-1.5, 1.5] (1.5·tanh) so that upsample's clamp of a slightly-out-of-range sample is met too")
    x = 1.5 * torch.tanh(x)
    size = model.stage2.unet.config.sample_size
    for steps in args.upsample_steps:
        meter.start()
        status = "ok"
        try:
            y = model.upsample(x, prompt, torch.Generator().manual_seed(180), num_inference_steps=steps)
            if y.shape != (args.samples, 3, size, size) or not torch.isfinite(y).all():
                status = "bad"
                print(f"   upsample gave {tuple(y.shape)}, finite: {bool(torch.isfinite(y).all())}")
        except Exception as err:  # noqa: BLE001 - reported, the run goes on
            status = "error"
            print(f"   upsample failed: {type(err).__name__}: {err}")
        meter.stop(f"upsample {steps} steps", status)
        failed += status != "ok"
    print(f"\n{len(sections)} sections, {failed} not ok; page: {ctx.out / 'index.html'}", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
