"""How skce has JAX compile: the persistent compilation cache and XLA's options.

XLA compiles each network's epoch in every new process (every script, loky
or dask worker); on a CPU that is most of a first fit. Two settings cut it:
the persistent cache, which lets a later process load what an earlier one
compiled, and, on a CPU, XLA's classic fusion code generator, which
compiles faster than XLA's default one.
"""

import inspect
import os
from pathlib import Path

import jax

#: The oldest JAX whose persistent cache skce turns on by default. At JAX
#: 0.4.30 a fit read back compiled code that trained to other results
#: (scikit-learn's sample-order check failed with the cache on, passed with
#: it off); JAX 0.10 passes every test with it.
CACHE_SINCE = (0, 5)

#: XLA options for skce's programs on a CPU. XLA's newer fusion emitters
#: generate each fused kernel's code through MLIR, which made an MLP's epoch
#: compile in 0.37 s against 0.21 s with the classic emitters on a 2-core
#: CPU; the classic ones trained to bit-identical weights there and ran
#: dense epochs as fast or faster (``benchmarks/results/first_fit.md`` times
#: a first fit). Programs on sparse X ran their gathers and scatters about
#: twice as fast with the newer ones, so they keep XLA's defaults.
CPU_OPTIONS = {"xla_cpu_use_fusion_emitters": False}

#: Whether this JAX's ``jax.jit`` takes ``compiler_options`` (0.4.30's does not).
_JIT_TAKES_OPTIONS = "compiler_options" in inspect.signature(jax.jit).parameters


def version() -> tuple:
    """JAX's (major, minor) version."""
    return tuple(int(part) for part in jax.__version__.split(".")[:2])


def compilation_cache_dir(environ=os.environ):
    """Where skce keeps JAX's persistent compilation cache, or None for off.

    ``SKCE_JAX_CACHE=0`` turns it off and ``SKCE_JAX_CACHE=<folder>`` moves
    it; by default it is ``skce/jax`` in the user's cache folder
    (``$XDG_CACHE_HOME``, else ``~/.cache``).
    """
    setting = environ.get("SKCE_JAX_CACHE", "")
    if setting.lower() in ("0", "false", "off", "no"):
        return None
    if setting and setting != "1":
        return str(Path(setting).expanduser())
    base = environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return str(Path(base) / "skce" / "jax")


def use_compilation_cache() -> None:
    """Turn on JAX's persistent compilation cache, unless the user set one.

    With the cache a later process loads the compiled code instead of
    compiling it. skce's compilations take well under JAX's 1 s threshold
    for caching, so the threshold goes to 0; a cache the user configured
    (``JAX_COMPILATION_CACHE_DIR`` or ``jax.config``) is left as it is,
    threshold included.
    """
    folder = compilation_cache_dir()
    if folder is None or jax.config.jax_compilation_cache_dir:
        return
    if version() < CACHE_SINCE:
        return
    jax.config.update("jax_compilation_cache_dir", folder)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)


#: Set once XLA has refused ``CPU_OPTIONS`` (an XLA that no longer knows one).
_REFUSED = []


def compiler_options(sparse: bool = False) -> dict:
    """The XLA options skce's ``jit`` passes: ``CPU_OPTIONS`` on a CPU.

    Empty for programs on sparse X, on other devices, on JAX releases whose
    ``jax.jit`` takes no ``compiler_options``, and once XLA has refused them.
    """
    if sparse or _REFUSED or not _JIT_TAKES_OPTIONS:
        return {}
    return CPU_OPTIONS if jax.default_backend() == "cpu" else {}


def jit(fn, *, sparse: bool = False, **kwargs):
    """``jax.jit(fn, **kwargs)`` with skce's ``compiler_options(sparse)``.

    If XLA refuses the options when the function first compiles, it
    compiles without them, now and in every later ``jit``. (Nothing runs
    before the compilation, so arguments to donate are still there.)
    """
    options = compiler_options(sparse)
    if not options:
        return jax.jit(fn, **kwargs)
    tuned = jax.jit(fn, compiler_options=options, **kwargs)
    plain = jax.jit(fn, **kwargs)

    def call(*args, **kw):
        if _REFUSED:
            return plain(*args, **kw)
        try:
            return tuned(*args, **kw)
        except jax.errors.JaxRuntimeError as error:
            if not any(name in str(error) for name in options):
                raise
            # The message only: the error's traceback holds the arguments.
            _REFUSED.append(str(error))
            return plain(*args, **kw)

    return call
