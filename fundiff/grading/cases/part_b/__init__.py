"""Reference cases of Part B (unet.py, train.py), and the small deterministic models its graded
tests feed to the student's losses and samplers, one file per idea:

    inputs.py       seeded inputs, held-out digits, the schedules of the step/sampler tests
    weights.py      deterministic weights, strict loading, running the student's modules
    unet.py         cases and checks of unet.py (§1.1, §2.1, §2.4): blocks, networks, parameter counts
    tiny_models.py  the models fed to the losses and samplers (TinyEps, OracleEps, tiny_denoiser)
    train.py        cases of train.py (§1.2, §2.1–§2.5): noise, losses, schedule, step, sampling, CFG

A new case: a function ``(impl) -> {name: tensor}`` registered with ``@case("B…/name", "B…")`` in
the file of the module it grades (then ``python -m fundiff.reference``).

Weights never come from ``torch``'s global RNG: :func:`deterministic_state` fills a module's
state dict from CPU generators seeded by the parameter names, so a reference depends only on the
names and shapes of the parameters (the exercise contract).  The UNet cases store those weights
next to their outputs (keys ``w/<parameter name>``); the graded tests load them into the student's
module with ``load_state_dict(strict=True)`` (:func:`load_strict`) and compare the outputs.

The models of the loss and sampler tests (:class:`TinyEps`, :class:`OracleEps`) check what the
student feeds them: the time input must be the normalized t / (T − 1) ∈ [0, 1] of the course's one
timestep convention, and every call is recorded (``.calls``) so a test can say what it saw.
"""
from .inputs import TINY_BETA1, TINY_BETA2, TINY_T, course_schedule, digits, gaussian, linear_schedule, tiny_schedule
from .tiny_models import OracleEps, TinyEps, check_time_input, tiny_denoiser
from .train import SAMPLE_SHAPE, loss_inputs, record_sampling, scalar_loss, schedule_of
from .unet import (MODULE_CASES, MODULE_TOLERANCE, UNET_BUILD, build_module, build_unet, check_conditioning_matters,
                   check_gradients_reach_every_parameter, check_module, check_unet_shapes, conditioning_outputs,
                   unet_inputs)
from .weights import deterministic_state, eval_and_train_outputs, load_strict, run_module

__all__ = ["TINY_T", "TINY_BETA1", "TINY_BETA2", "SAMPLE_SHAPE", "gaussian", "digits", "linear_schedule",
           "tiny_schedule", "course_schedule", "deterministic_state", "load_strict", "run_module",
           "eval_and_train_outputs", "MODULE_CASES", "MODULE_TOLERANCE", "UNET_BUILD", "build_module", "check_module",
           "unet_inputs", "build_unet", "check_unet_shapes", "check_conditioning_matters", "conditioning_outputs", "check_gradients_reach_every_parameter",
           "check_time_input", "TinyEps", "OracleEps", "tiny_denoiser", "schedule_of", "loss_inputs", "scalar_loss",
           "record_sampling"]
