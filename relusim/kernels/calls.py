"""A call that LLVM keeps a call: the drivers' calls to the compiled sweeps.

numba lets LLVM inline one compiled function into another. A sweep compiled for one activation is
small enough that LLVM inlined it into the replicated drivers, and there its loops ran 11-14% slower
than as a function of their own (paired benchmarks, y = 7 and y = 3 ensembles). ``apart(fn, args)``
calls the compiled function ``fn`` with the arguments of the tuple ``args`` and marks the call site
``noinline``: the sweep stays the function it is when it is called from Python, and nothing else of
the caller's code changes. numba compiles ``fn`` for the argument types while typing the caller and
links it into the caller's library, as for any call, so the caller stays cacheable.
"""
from __future__ import annotations

from numba.core import cgutils, types
from numba.core.typing import signature
from numba.extending import intrinsic


@intrinsic
def apart(typingctx, fn, args):
    """fn(*args) for a compiled function fn, never inlined at this call site."""
    if not isinstance(fn, types.Dispatcher) or not isinstance(args, types.BaseTuple):
        return None
    inner = typingctx.resolve_function_type(fn, tuple(args.types), {})
    if inner is None:
        return None
    sig = signature(inner.return_type, fn, args)

    def codegen(context, builder, sig_, llargs):
        cres = fn.dispatcher.overloads[tuple(args.types)]
        context.add_linking_libs([cres.library])
        fndesc = cres.fndesc
        func = context.declare_function(builder.module, fndesc)
        values = [builder.extract_value(llargs[1], i) for i in range(len(args.types))]
        status, ret = context.call_conv.call_function(builder, func, fndesc.restype, fndesc.argtypes, values,
                                                      attrs=("noinline",))
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return ret

    return sig, codegen
