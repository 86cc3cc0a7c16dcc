"""Lock files are never followed: whatever stands at ``<output>.lock`` or ``<output>.tasks.lock`` that is
not a regular file of this user with one link is refused in one line and left as it is.

Issue 27: a planted ``<output>.lock -> victim`` made ``anneal`` truncate ``victim`` and write the lock's
JSON into it. Nothing here anneals: every refusal comes before a sample runs.
"""
import json
import os
import subprocess
import sys

import pytest

from cli_helpers import BASE, relusim_here, write_config
from relusim import config
from relusim.storage import results, lock
from relusim.errors import InputError

PRECIOUS = "precious data, not a lock\n"


def plant(tmp_path, lock_file, how: str):
    """Put ``how`` at ``lock_file``; returns the victim file (or None)."""
    victim = tmp_path / "victim"
    victim.write_text(PRECIOUS)
    if how == "symlink":
        lock_file.symlink_to(victim)
    elif how == "dangling-symlink":
        lock_file.symlink_to(tmp_path / "created-by-nobody")
    elif how == "symlink-to-dir":
        lock_file.symlink_to(tmp_path)
    elif how == "hard-link":
        os.link(victim, lock_file)
    elif how == "directory":
        lock_file.mkdir()
    elif how == "fifo":
        os.mkfifo(lock_file)
    elif how == "other-user":
        if os.geteuid() != 0:
            pytest.skip("needs root to make a file of another user")
        lock_file.write_text("{}")
        os.chown(lock_file, 65534, 65534)
    return victim


HOW = ["symlink", "dangling-symlink", "symlink-to-dir", "hard-link", "directory", "fifo", "other-user"]
WORDS = {"symlink": "symbolic link (to", "dangling-symlink": "symbolic link", "symlink-to-dir": "symbolic link",
         "hard-link": "2 hard links", "directory": "is a directory", "fifo": "is a FIFO",
         "other-user": "another user (uid 65534)"}


@pytest.mark.parametrize("kind, shared", [(lock.FILE, False), (lock.TASKS, False), (lock.TASKS, True)])
@pytest.mark.parametrize("how", HOW)
def test_a_planted_lock_file_is_refused_and_left_alone(tmp_path, how, kind, shared):
    out = tmp_path / "o.h5"
    lock_file = lock.lock_path(out, kind)
    victim = plant(tmp_path, lock_file, how)
    before = os.lstat(lock_file)
    with pytest.raises(InputError) as info:
        lock.acquire(out, kind, shared=shared)
    msg = str(info.value)
    assert info.value.key == "output" and WORDS[how] in msg and str(lock_file) in msg and "\n" not in msg
    assert victim.read_text() == PRECIOUS
    assert not (tmp_path / "created-by-nobody").exists()
    after = os.lstat(lock_file)
    assert (after.st_ino, after.st_mode, after.st_mtime_ns) == (before.st_ino, before.st_mode, before.st_mtime_ns)
    assert not lock.held(out, kind)


def test_a_stale_lock_file_of_this_user_is_still_taken_and_removed(tmp_path):
    out = tmp_path / "o.h5"
    lock.lock_path(out).write_text(json.dumps({"pid": 999999999}))
    lock.acquire(out, command="test")
    try:
        assert lock.holder(out)["pid"] == os.getpid()
    finally:
        lock.release(out)
    assert not lock.lock_path(out).exists()


def test_a_second_holder_is_still_refused_with_its_name(tmp_path):
    out = tmp_path / "o.h5"
    lock.lock_path(out).write_text("")
    holder = subprocess.Popen([sys.executable, "-c", "import sys, time; from relusim.storage import lock; "
                               f"lock.acquire({str(out)!r}, command='the holder'); print('ok', flush=True); "
                               "time.sleep(60)"], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "ok"
        with pytest.raises(InputError, match="held by PID .*the holder"):
            lock.acquire(out)
    finally:
        holder.kill()
        holder.wait()


def test_holder_never_reads_through_a_symlink(tmp_path):
    out = tmp_path / "o.h5"
    (tmp_path / "secret.json").write_text(json.dumps({"pid": 1, "command": "the content of another file"}))
    lock.lock_path(out).symlink_to(tmp_path / "secret.json")
    assert lock.holder(out) == {}


def _config(tmp_path) -> str:
    return write_config(tmp_path / "c.yaml", dict(BASE, output=str(tmp_path / "o.h5"), samples=1))


def test_anneal_with_a_planted_lock_symlink_refuses_and_the_victim_is_untouched(tmp_path):
    victim = plant(tmp_path, tmp_path / "o.h5.lock", "symlink")
    code, _, err = relusim_here("anneal", "--config", _config(tmp_path), "--quiet", "--workers", 1, cwd=tmp_path)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "symbolic link" in err, err
    assert victim.read_text() == PRECIOUS
    assert not (tmp_path / "o.h5").exists() and not (tmp_path / "o.h5.tasks.lock").exists()


def test_anneal_with_a_planted_tasks_lock_symlink_refuses(tmp_path):
    victim = plant(tmp_path, tmp_path / "o.h5.tasks.lock", "dangling-symlink")
    code, _, err = relusim_here("anneal", "--config", _config(tmp_path), "--quiet", "--workers", 1, cwd=tmp_path)
    assert code == 2 and "symbolic link" in err and "tasks.lock" in err, err
    assert victim.read_text() == PRECIOUS and not (tmp_path / "created-by-nobody").exists()


def test_merge_with_a_planted_hard_link_refuses(tmp_path):
    cfg = config.from_dict(dict(BASE, output=str(tmp_path / "o.h5"), samples=1))
    rf = results.ResultsFile(cfg.output)
    rf.prepare(cfg, "test")  # a result file with no sample yet (nothing annealed)
    rf.release()
    victim = plant(tmp_path, tmp_path / "o.h5.lock", "hard-link")
    code, _, err = relusim_here("merge", tmp_path / "o.h5")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "hard links" in err, err
    assert victim.read_text() == PRECIOUS
