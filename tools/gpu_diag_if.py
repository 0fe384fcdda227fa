"""Where does the DeepFloyd IF loop on CUDA part from IFPipeline?  Step-by-step comparison on the
tiny offline IF pipeline, float32 and float16, with the noise of both drawn from the same CPU seed.
Usage (on a machine with CUDA): python tools/gpu_diag_if.py"""
import tempfile
from pathlib import Path

import torch

from fundiff import models
from fundiff.grading.cases.part_a import gen
from fundiff.impl import load_impl
from fundiff.models.deepfloyd import if_pipeline

S = load_impl("solutions")
path = Path(tempfile.mkdtemp())
models.save_tiny_if(path)
embeds = models.load_prompt_embeds(path / "prompt_embeds.pth")
p = "a high quality photo"
ts = list(range(990, -1, -90))
for device in ("cpu", "cuda"):
    for dtype in (torch.float32, torch.float16):
        if device == "cpu" and dtype == torch.float16:
            continue
        m = models.load_pretrained("deepfloyd", device=device, dtype=dtype, path=str(path), prompt_embeds=path / "prompt_embeds.pth")
        pipe = if_pipeline(path, dtype=dtype).to(device)  # thresholding and clip_sample off, as the course's loop
        theirs, ours = [], []
        want = pipe(prompt_embeds=embeds[p].to(device, dtype), negative_prompt_embeds=embeds[""].to(device, dtype),
                    timesteps=ts, guidance_scale=3.0, generator=gen(180), output_type="pt",
                    callback=lambda i, t, x: theirs.append(x.float().cpu().clone()), callback_steps=1).images.float().cpu()
        est = S.guidance.cfg_estimator(m.estimator(p), m.estimator(""), 3.0)
        got = S.denoise.sample(est, (1, 3, 16, 16), ts, m.alphas_cumprod, gen(180), device=device,
                               callback=lambda i, t, x: ours.append(x.float().cpu().clone()))
        print(f"{device} {dtype}: final max|diff| {(got.cpu() - want).abs().max().item():.4g} (scale {want.abs().max().item():.4g})")
        for k, (a, b) in enumerate(zip(ours, theirs)):
            print(f"   step {k}: max|diff| {(a - b).abs().max().item():.4g}  scale {b.abs().max().item():.4g}")
        # the first model call on the same input
        x = torch.randn(1, 3, 16, 16, generator=gen(1)).to(device)
        e_ours, v_ours = m.estimator(p)(x, 990)
        emb = torch.cat([embeds[""], embeds[p]]).to(device, dtype)
        out = pipe.unet(torch.cat([x, x]).to(dtype), torch.tensor(990, device=device), encoder_hidden_states=emb).sample.float()
        print(f"   eps(990) cond: max|ours - pipe.unet| {(e_ours.float() - out[1:, :3]).abs().max().item():.4g} "
              f"(scale {out[1:, :3].abs().max().item():.4g}); v: {(v_ours.float() - out[1:, 3:]).abs().max().item():.4g}")
