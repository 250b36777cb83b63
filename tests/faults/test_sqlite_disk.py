"""The SQLite file's filesystem fails under a running app: read-only after a disk error, or full.

Both are real kernel faults, made as root (skipped otherwise), under the app's
open connections:

- **read-only**: the database lives on a small ext4 image mounted with
  ``errors=remount-ro`` (Debian's default for its root filesystem); writing to
  ``/sys/fs/ext4/<loop>/trigger_fs_error`` records a filesystem error, and the
  kernel turns the filesystem read-only at once, open files included. The
  operator's repair is the usual one: unmount, ``e2fsck``, mount again.
  (``chmod`` would prove nothing: root ignores it, and no one's open file
  descriptors are affected by it; ``mount -o remount,ro`` is refused while the
  app holds the file open for writing.)
- **full**: the database lives on a 1 MiB tmpfs and a filler file takes the
  rest; deleting the filler gives the space back.

The app runs in this process on that real file (the fault is the filesystem's,
not the network's); every write the app does there — a registration, a login
(its throttle counter), a password change (hash and session version) — must
be the README's 503 page with ``Retry-After`` and a log line, the database must
stay intact, and writes must work again once the disk does, without a restart.
"""

import contextlib
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from quart import Quart

from quart_app.errors import DATABASE_DOWN, RETRY_AFTER_SECONDS
from quart_app.users import User

from ..conftest import PASSWORD, AuthActions, csrf_from, log_in
from .helpers import poll

pytestmark = pytest.mark.config(USER_CACHE_TTL=0)  # every page asks the database itself

NEW_PASSWORD: Final = "a brand new passphrase"
# Only bounds the wait for the first write that works again; one that never does fails.
RECOVERY_WITHIN: Final = 10.0


def run(*command: str) -> subprocess.CompletedProcess[str]:
    """Run a system command, failing the test on a non-zero status."""
    return subprocess.run(command, check=True, capture_output=True, text=True, timeout=30)


def mount_options(mount_point: Path) -> set[str]:
    """The options the kernel reports for a mount right now."""
    return set(run("findmnt", "-no", "OPTIONS", str(mount_point)).stdout.strip().split(","))


def require_mounting() -> None:
    """Skip unless this process may mount filesystems and has the tools for it."""
    if os.geteuid() != 0:
        pytest.skip("mounting a filesystem to fail needs root")
    missing = [tool for tool in ("mount", "umount", "findmnt", "mkfs.ext4", "e2fsck")
               if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"missing tools: {', '.join(missing)}")


@contextlib.contextmanager
def mounted(mount_point: Path, *mount_command: str) -> Iterator[None]:
    """A filesystem mounted for the test, detached afterwards whatever still has it open."""
    mount_point.mkdir()
    try:
        run(*mount_command, str(mount_point))
    except subprocess.CalledProcessError as error:
        pytest.skip(f"cannot mount here: {error.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True, check=False)


@dataclass
class ReadOnlyAfterAnError:
    """ext4 on a loop device that the kernel remounts read-only when an error is recorded."""

    mount_point: Path
    image: Path

    def mount(self) -> None:
        """Mount the image, ``errors=remount-ro``."""
        run("mount", "-o", "loop,errors=remount-ro", str(self.image), str(self.mount_point))

    def start(self) -> None:
        """Record a filesystem error, as a failing disk would; the kernel does the rest."""
        loop = Path(run("findmnt", "-no", "SOURCE", str(self.mount_point)).stdout.strip())
        (Path("/sys/fs/ext4") / loop.name / "trigger_fs_error").write_text("fault test\n")
        assert mount_options(self.mount_point) & {"ro", "emergency_ro"}

    def end(self) -> None:
        """The operator's repair: unmount (lazily: the app has the file open), fsck, mount."""
        run("umount", "-l", str(self.mount_point))
        fsck = subprocess.run(["e2fsck", "-fy", str(self.image)], capture_output=True,
                              text=True, timeout=60, check=False)
        assert fsck.returncode in {0, 1}, fsck.stdout  # 1: errors corrected
        self.mount()


@dataclass
class DiskFull:
    """A tmpfs of 1 MiB whose free space a filler file takes."""

    mount_point: Path

    def start(self) -> None:
        """Write the filler until the filesystem refuses more."""
        with (self.mount_point / "filler").open("wb") as filler, contextlib.suppress(OSError):
            while True:
                filler.write(bytes(65536))
                filler.flush()
        assert shutil.disk_usage(self.mount_point).free == 0

    def end(self) -> None:
        """Give the space back."""
        (self.mount_point / "filler").unlink()


Fault = ReadOnlyAfterAnError | DiskFull
# What the log line names for each fault (sqlite3's error code names).
LOGGED: Final = {"read-only": ("SQLITE_IOERR", "SQLITE_READONLY"), "full": ("SQLITE_FULL",)}


@pytest.fixture(params=["read-only", "full"])
def disk(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Fault]]:
    """The fault's name and the fault, its filesystem mounted and holding nothing yet."""
    require_mounting()
    mount_point = tmp_path / "disk"
    if request.param == "full":
        with mounted(mount_point, "mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs"):
            yield request.param, DiskFull(mount_point)
        return
    image = tmp_path / "disk.img"
    with image.open("wb") as file:
        file.truncate(8 * 1024 * 1024)
    run("mkfs.ext4", "-q", "-F", str(image))
    with mounted(mount_point, "mount", "-o", "loop,errors=remount-ro", str(image)):
        yield request.param, ReadOnlyAfterAnError(mount_point, image)


@pytest.fixture
def database(disk: tuple[str, Fault]) -> str:
    """The app's users database, on the filesystem that will fail (replaces conftest's)."""
    return f"sqlite:///{disk[1].mount_point / 'users.db'}"


def stored_users(fault: Fault) -> list[str]:
    """Usernames in the file, read by a connection of its own after an integrity check."""
    connection = sqlite3.connect(fault.mount_point / "users.db")
    try:
        assert connection.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        return [name for (name,) in connection.execute("SELECT username FROM users ORDER BY id")]
    finally:
        connection.close()


async def register(app: Quart, _user: User) -> Any:
    """A new visitor registers (an INSERT after its hash, and the address's throttle count)."""
    return await AuthActions(app.test_client()).register("bob")


async def log_in_by_form(app: Quart, _user: User) -> Any:
    """alice logs in by the form (her throttle counters are written before the password check)."""
    return await AuthActions(app.test_client()).login("alice")


async def change_password(app: Quart, user: User) -> Any:
    """Logged-in alice changes her password (a throttle count, the hash, the session version)."""
    client = app.test_client()
    await log_in(app, client, user)
    page = await (await client.get("/account/password")).get_data(as_text=True)
    return await client.post("/account/password", form={
        "current": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD,
        "csrf_token": csrf_from(page)})


Write = Callable[[Quart, User], Awaitable[Any]]
WRITES: Final = [register, log_in_by_form, change_password]


@pytest.mark.parametrize("write", WRITES, ids=lambda write: write.__name__)
async def test_a_write_on_a_failed_disk_is_a_503_page_with_retry_after_and_a_log_line(
    app: Quart, user: User, disk: tuple[str, Fault], write: Write,
    caplog: pytest.LogCaptureFixture,
) -> None:
    kind, fault = disk
    fault.start()
    response = await write(app, user)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == RETRY_AFTER_SECONDS
    assert DATABASE_DOWN in await response.get_data(as_text=True)
    logged = [r.getMessage() for r in caplog.records if r.name == "quart_app.errors"]
    assert any(line.startswith("database unavailable: OperationalError SQLITE_")
               and any(code in line for code in LOGGED[kind]) for line in logged), logged


async def test_a_logged_in_profile_is_still_read_from_a_failed_disk(
    app: Quart, user: User, disk: tuple[str, Fault],
) -> None:
    client = app.test_client()
    await log_in(app, client, user)
    disk[1].start()
    await register(app, user)  # a write fails first, so the pool reconnects on the bad disk
    response = await client.get("/profile")
    assert response.status_code == 200
    assert "alice" in await response.get_data(as_text=True)


@pytest.mark.parametrize("write", WRITES, ids=lambda write: write.__name__)
async def test_a_write_refused_by_a_failed_disk_leaves_the_database_intact(
    app: Quart, user: User, disk: tuple[str, Fault], write: Write,
) -> None:
    await fault_then_repair(app, user, disk[1], write)
    assert stored_users(disk[1]) == ["alice"]
    assert (await log_in_by_form(app, user)).status_code == 303, "alice's password unchanged"


async def test_writes_work_again_once_the_disk_is_back_without_restarting_the_app(
    app: Quart, user: User, disk: tuple[str, Fault],
) -> None:
    await fault_then_repair(app, user, disk[1], register)
    registered, _ = await poll(lambda: register(app, user),
                               lambda response: response.status_code != 503,
                               within=RECOVERY_WITHIN)
    assert registered.status_code == 303
    assert stored_users(disk[1]) == ["alice", "bob"]
    assert (await change_password(app, user)).status_code == 303


async def fault_then_repair(app: Quart, user: User, fault: Fault, write: Write) -> None:
    """The disk fails, ``write`` is refused with the 503, and the disk is put right."""
    fault.start()
    assert (await write(app, user)).status_code == 503
    fault.end()
