"""A1.6 — classifier-free guidance ε = ε_u + γ(ε_c − ε_u); the whole CFG loop against diffusers' IFPipeline."""
from fundiff.grading import call, compare, graded
from fundiff.grading.cases import check_case
from fundiff.grading.cases.part_a import gaussian, gaussian_model, gen

HINT = "ε = ε_u + γ·(ε_c − ε_u) with ε_u from the empty prompt; return the conditional pass's v"


def tiny_if(tmp_path_factory):
    from fundiff.models import load_pretrained, save_tiny_if

    path = tmp_path_factory.mktemp("tiny_if")
    embeds = save_tiny_if(path)
    model = load_pretrained("deepfloyd", device="cpu", path=str(path), prompt_embeds=path / "prompt_embeds.pth")
    return path, embeds, model


@graded("A1.6", points=1, hint=HINT)
def test_cfg_with_scale_one_is_the_conditional_estimate(impl):
    """γ = 1 gives (ε_c, v_c), γ = 0 gives ε_u, and γ = 7 extrapolates"""
    m = gaussian_model(8, learned_variance=True)
    x = gaussian((2, 1, 8, 8), 1)
    eps_c, v_c = m.estimator("top")(x, 500)
    eps_u, _ = m.estimator("")(x, 500)
    for gamma, want in ((1.0, eps_c), (0.0, eps_u), (7.0, eps_u + 7.0 * (eps_c - eps_u))):
        est = call(impl, "guidance.cfg_estimator", m.estimator("top"), m.estimator(""), gamma)
        eps, v = est(x, 500)
        compare(f"ε at γ={gamma:g}", eps, want, atol=1e-5)
        compare(f"v at γ={gamma:g}", v, v_c, atol=0, rtol=0)


@graded("A1.6", points=1, hint=HINT)
def test_cfg_samples_match_reference(impl):
    """5 samples at γ = 1 and γ = 7 match the reference"""
    check_case("A1.6/cfg", impl)


@graded("A1.6", points=2, hint=HINT + "; the loop draws x_T then one z per step from the CPU generator")
def test_cfg_loop_equals_ifpipeline(impl, tmp_path_factory):
    """the CFG loop equals diffusers' IFPipeline with the scheduler's thresholding and clip_sample
    switched off (the course's loop does neither), on the stand-in built from IF-I-XL's config (same
    seed, same timesteps, the same fp16 prompt embeddings).  That the real scheduler config, which
    thresholds, is read as it is: tests/test_models_deepfloyd.py."""
    from fundiff.models.deepfloyd import if_pipeline

    path, embeds, model = tiny_if(tmp_path_factory)
    pipe = if_pipeline(path)
    assert not pipe.scheduler.config.thresholding and not pipe.scheduler.config.clip_sample
    ts = list(range(990, -1, -90))
    prompt = "a high quality photo"
    for gamma in (1.0, 7.0):
        want = pipe(prompt_embeds=embeds[prompt].float().expand(2, -1, -1),
                    negative_prompt_embeds=embeds[""].float().expand(2, -1, -1),
                    timesteps=ts, guidance_scale=gamma, generator=gen(180), output_type="pt").images
        est = model.estimator(prompt)
        if gamma != 1.0:
            est = call(impl, "guidance.cfg_estimator", est, model.estimator(""), gamma)
        got = call(impl, "denoise.sample", est, (2, 3, 16, 16), ts, model.alphas_cumprod, gen(180))
        compare(f"samples at γ={gamma:g}", got, want, atol=1e-3, rtol=1e-4)
