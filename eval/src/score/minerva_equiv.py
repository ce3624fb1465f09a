# vibee-eval's Minerva MATH checker: the harness's `minerva_math` is_equiv
# (sympy parse_latex + simplify, 5 s alarm) and math_verify, served over
# stdin/stdout as JSON lines. The first line says whether the packages the
# harness requires (sympy, antlr4-python3-runtime 4.11, math_verify) import.
import json
import signal
import sys

try:
    from importlib.metadata import version

    import antlr4  # noqa: F401
    import sympy
    from sympy.parsing.latex import parse_latex

    if not version("antlr4-python3-runtime").startswith("4.11"):
        raise ImportError("antlr4-python3-runtime " + version("antlr4-python3-runtime") + " (need 4.11)")
except Exception as e:  # noqa: BLE001 - any failure means "not available"
    print(json.dumps({"ready": False, "reason": f"{type(e).__name__}: {e}"}), flush=True)
    sys.exit(0)

try:
    from math_verify import parse, verify
except Exception:  # noqa: BLE001
    parse = verify = None

print(json.dumps({"ready": True, "math_verify": parse is not None}), flush=True)


class Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise Timeout()


signal.signal(signal.SIGALRM, _alarm)


def is_equiv(x1, x2):
    # Same control flow as the harness: identical strings, else parse both,
    # subtract, simplify; any failure or the 5 s alarm is "not equivalent".
    if isinstance(x1, str) and x1 and x1 == x2:
        return True
    try:
        signal.alarm(5)
        try:
            try:
                p1 = parse_latex(x1)
                p2 = parse_latex(x2)
            except (sympy.parsing.latex.errors.LaTeXParsingError, sympy.SympifyError, TypeError):
                return False
            try:
                diff = p1 - p2
            except TypeError:
                return False
            try:
                return bool(sympy.simplify(diff) == 0)
            except ValueError:
                return False
        finally:
            signal.alarm(0)
    except Exception:  # noqa: BLE001 - Timeout included
        return False


for line in sys.stdin:
    req = json.loads(line)
    out = {"exact_match": is_equiv(req["answer"], req["gold"]), "math_verify": None}
    if verify is not None:
        try:
            out["math_verify"] = bool(verify(gold=parse(req["solution"]), target=parse(req["generation"])))
        except Exception:  # noqa: BLE001
            out["math_verify"] = False
    print(json.dumps(out), flush=True)
