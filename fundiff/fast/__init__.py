"""The fast path: any model's forward in reduced precision, for training and sampling.

Two calls are all a caller needs::

    >>> from fundiff.fast import fast_model, precision
    >>> fast = fast_model(model)                 # same parameters, eval()/train(), float32 outputs
    >>> x0 = ddpm_sample(fast, shape, schedule, gen, c=c)   # any sampler, unchanged
    >>> with precision(device):                  # training: the loss in bf16 autocast
    ...     loss = ddpm_loss(model, x0.contiguous(memory_format=torch.channels_last), ...)

What the fast path does (weights, optimizer state and losses stay float32; what a model computes
is unchanged up to bfloat16 rounding):

- **bfloat16 autocast where it pays** (:func:`precision`, ``precision.py``): convolutions and matmuls
  run in bfloat16 where the CPU has it natively *and* it is faster: for the convolution-bound
  channels_last UNets of Part B, :func:`cpu_bf16_speedup` times one 3×3 convolution in both dtypes
  once per process, and bfloat16 is used only at ≥ 1.15× (with AMX it is several times faster; on
  the 2-core AVX-512 BF16 VM without AMX it measured 0.6×, so Part B's fast path there is float32
  channels_last with fused oneDNN convolutions: 1.45× faster than its bf16 one for the class UNet's
  sampling, 2.8 vs 4.1 ms per image); the GroupNorm UNets of Part A use bf16 wherever native
  (:func:`cpu_uses_bf16`).  ``FUNDIFF_CPU_FAST_DTYPE=bfloat16|float32`` fixes the choice.  On CUDA
  the GPU's own mixed precision (bfloat16 where supported, else float16 for sampling).
- **conditioning vectors in float32** (:class:`Float32Conditioning`, inside :func:`precision`;
  ``precision.py``): the
  Linear layers on (B, k) inputs — the UNets' time and class blocks — compute in float32, so that
  neighbouring timesteps t/(T − 1), which bfloat16 rounds to one value, stay apart.
- **channels_last** (NHWC) activations, the layout oneDNN's convolutions want (NCHW costs a
  reorder before and after every convolution, and a slower backward pass) — except for networks
  with GroupNorm (the diffusers UNets of Part A), whose CPU kernel is 10-30× slower on NHWC
  tensors: those stay NCHW (:func:`prefers_channels_last`).
- **training on the CPU** (:class:`CPUKernels`, inside :func:`precision`; ``training.py``): three ops of a
  channels_last step run on the kernel that is fastest for them, computing the same function —
  GELU on the contiguous NHWC view (PyTorch's CPU GELU takes a 2× slower path for channels_last
  strides), channel concatenation handing channels_last gradients to the skip connections, and the
  UNet's Unflatten (a ConvTranspose2d on a 1×1 input) as one matrix product.
- **in eval() mode without gradients** (sampling), :func:`fast_model` runs a folded copy of the
  model (``sampling.py``): every ``Conv2d``/``ConvTranspose2d`` → ``BatchNorm2d`` → ``GELU``/``ReLU``/``SiLU`` run of an
  ``nn.Sequential`` becomes ONE oneDNN convolution with the batch norm folded into its weights,

      W' = W·γ/√(σ²+ε),   b' = (b − μ)·γ/√(σ²+ε) + β,

  and the activation as its post-op (the exact same function: erf GELU stays erf GELU).  The copy
  is rebuilt whenever the model's weights change (a training step, ``load_state_dict``); on a CPU
  with native bf16 its weights are stored in bfloat16 (folded in float32 first).
- **GroupNorm networks** (the diffusers UNets of Part A) stay NCHW, and on a CPU with native bf16
  their bf16 inference copy runs traced and frozen with TorchScript, one trace per input signature
  (:meth:`FastModel._traced_forward`): a step of the bundled model is ~250 small ops, and without
  Python between them (and with oneDNN's weights packed once) sampling runs ~1.3× faster than the
  eager bf16 copy.  Where tracing fails, the eager copy runs (with a warning).
- **where it is on by default** (:func:`default_enabled`): on the CPU.  On CUDA the same code runs
  the GPU's mixed precision when asked (``--fast``), but for these small models it measured slower
  than float32 on an H100, so it is off there by default.

Tried and left out, because they did not pay on a 2-core AVX-512 laptop-class CPU: ``torch.compile``
(inductor; minutes of compilation, and the compiled UNet step and BatchNorm+GELU were slower than
eager oneDNN), the fused Adam kernel (< 1 % of a step), float16 on the CPU (no native kernels).

``enabled=False`` everywhere gives the plain float32 NCHW computation (the ``--no-fast`` flags of
``python -m fundiff.train`` and ``python -m fundiff.demo``).  ``python -m fundiff.bench`` measures it.

The package, file by file:

    precision.py  which reduced precision a device runs fast (:func:`fast_dtype`, :func:`default_enabled`),
                  the autocast context (:func:`precision`), float32 conditioning vectors, the CLI flags
    training.py   the CPU training step's three rerouted kernels (:class:`CPUKernels`)
    sampling.py   BatchNorm folding and activation fusion (:func:`fuse_for_inference`), TorchScript
                  tracing of the bf16 copy
    model.py      the wrapper (:class:`FastModel`) and the one call (:func:`fast_model`)
"""
from .model import FastModel, fast_model
from .precision import (BF16_MIN_SPEEDUP, CPU_DTYPE_ENV, Float32Conditioning, add_cli_flags, bf16_supported, cpu_bf16_speedup,
                        cpu_uses_bf16, default_enabled, fast_dtype, linear_float32, precision, settings)
from .sampling import FusedConv, fuse_for_inference, prefers_channels_last
from .training import CPUKernels, cat_channels_nhwc, conv_transpose_1x1_as_matmul, gelu_nhwc

__all__ = ["fast_model", "precision", "fast_dtype", "bf16_supported", "cpu_bf16_speedup", "cpu_uses_bf16",
           "CPU_DTYPE_ENV", "BF16_MIN_SPEEDUP", "default_enabled", "add_cli_flags", "CPUKernels",
           "Float32Conditioning", "linear_float32", "gelu_nhwc", "cat_channels_nhwc", "conv_transpose_1x1_as_matmul",
           "FastModel", "FusedConv", "fuse_for_inference", "prefers_channels_last", "settings"]
