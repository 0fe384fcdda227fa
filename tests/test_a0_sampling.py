"""A0 — sampling with the pretrained model: the timesteps a pipeline visits for num_inference_steps."""
import pytest

from fundiff.grading import GradingError, call, graded
from fundiff.grading.cases import check_case

HINT = ("diffusers' 'leading' spacing: ratio = T // n, then ratio·(n−1), ratio·(n−2), …, ratio, 0 "
        "(n python ints, descending, 0 included)")


@graded("A0", points=1, hint=HINT)
def test_inference_timesteps_match_diffusers_set_timesteps(impl):
    """the timesteps of n inference steps equal DDPMScheduler.set_timesteps(n) for several n"""
    from diffusers import DDPMScheduler

    sched = DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2")
    for n in (1, 7, 20, 50, 100, 1000):
        sched.set_timesteps(n)
        got = call(impl, "denoise.inference_timesteps", n, 1000)
        if list(got) != sched.timesteps.tolist():
            raise GradingError(f"inference_timesteps({n}) = {list(got)[:6]}… (length {len(got)}), expected "
                               f"{sched.timesteps.tolist()[:6]}… (length {len(sched.timesteps)})\n  hint: {HINT}")


@graded("A0", points=1, hint=HINT + "; sample draws x_T first, then one z per step")
def test_samples_at_two_step_counts_match_reference(impl):
    """samples of 3 prompts at 5 and 10 inference steps (seed 180) match the reference"""
    check_case("A0/sampling", impl)


def test_inference_timesteps_rejects_bad_counts(solutions):
    with pytest.raises(ValueError, match="num_inference_steps"):
        solutions.denoise.inference_timesteps(0)
