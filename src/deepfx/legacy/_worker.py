"""Worker run *inside* the legacy runtime (Python 3.9 + torch 1.9); never imported by deepfx.

It imports only the standard library, torch and numpy, so it runs in a virtualenv that
has no deepfx (deepfx needs Python 3.10+). :mod:`deepfx.legacy.runtime` starts it as a
script in a subprocess; a crash (torch 1.9 aborts on some archives) kills only it.

Commands (results as JSON on the last line of stdout)::

    python _worker.py run MODEL.pt IN_DIR OUT_DIR    # IN_DIR/<k>.npy -> OUT_DIR/<k>[.<i>].npy
    python _worker.py schemas                         # torch's operator signatures, compact
    python _worker.py version                         # torch's version

``run`` loads MODEL.pt with ``torch.jit.load`` as the original host did, calls it on each
input under ``torch.no_grad()`` and saves each output (a tuple's parts as ``k.0``, ``k.1``).
An exception becomes ``{"ok": false, "error": ..., "last_line": ...}``: the host would
have shown the same text.
"""

import json
import sys
import traceback
from pathlib import Path


def _last_line(text):
    lines = [s.strip() for s in str(text).splitlines() if s.strip()]
    return lines[-1] if lines else ""


def _save(out_dir, key, out, np):
    if isinstance(out, (tuple, list)):
        return [_save(out_dir, key + "." + str(i), o, np)[0] for i, o in enumerate(out)]
    arr = out.detach().cpu().numpy()
    np.save(str(Path(out_dir) / (key + ".npy")), arr)
    return [{"key": key, "shape": list(arr.shape), "dtype": str(arr.dtype)}]


def run(model_path, in_dir, out_dir):
    import numpy as np
    import torch

    try:
        module = torch.jit.load(model_path, map_location="cpu")
        module.eval()
    except Exception as exc:  # the host's "could not load" path
        # a compile error's first line says what; a runtime error's last line says why
        first = next((s.strip() for s in str(exc).splitlines() if s.strip()), "")
        return {"ok": False, "stage": "load", "error": str(exc), "last_line": first}
    results = {}
    for path in sorted(Path(in_dir).glob("*.npy")):
        x = torch.from_numpy(np.load(str(path)))
        try:
            with torch.no_grad():
                out = module(x)
        except Exception as exc:
            return {
                "ok": False,
                "stage": "run",
                "input": path.stem,
                "error": str(exc),
                "last_line": _last_line(exc),
            }
        results[path.stem] = _save(out_dir, path.stem, out, np)
    return {"ok": True, "outputs": results, "torch": torch.__version__}


def schemas():
    import torch

    lines = set()
    for s in torch._C._jit_get_all_schemas():
        args = []
        kw = False
        for a in s.arguments:
            if a.kwarg_only and not kw:
                args.append("*")
                kw = True
            args.append(a.name + ("=" if a.has_default_value() else ""))
        if "..." in str(s).split("->")[0]:
            args.append("...")
        lines.add(s.name + " " + ",".join(args))
    return {"ok": True, "schemas": sorted(lines)}


def main(argv):
    cmd = argv[1] if len(argv) > 1 else ""
    try:
        if cmd == "run" and len(argv) == 5:
            result = run(argv[2], argv[3], argv[4])
        elif cmd == "schemas":
            result = schemas()
        elif cmd == "version":
            import torch

            result = {"ok": True, "torch": torch.__version__, "python": sys.version.split()[0]}
        else:
            result = {"ok": False, "error": "usage: _worker.py run MODEL IN OUT | schemas"}
    except Exception as exc:  # a bug here, not in the model: show it whole
        result = {
            "ok": False,
            "stage": "worker",
            "error": traceback.format_exc(),
            "last_line": _last_line(exc),
        }
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
