"""PostgreSQL and RabbitMQ on loopback for the scale mode: found, or installed and started; left as they were found.

The scale mode (``tests/test_scale.py``) needs a PostgreSQL server at 127.0.0.1:5432 and a RabbitMQ
broker at 127.0.0.1:5672 (guest/guest). ``ensure_postgresql`` and ``ensure_rabbitmq`` use a server
that is already running; otherwise they start an installed one, or install Debian's package
(``postgresql``, ``rabbitmq-server``; root and ``apt-get`` needed) and start it. Each returns a
``Service`` that remembers whether it started the server, so ``Service.stop_if_started`` stops only
what it started. When neither works they raise ``ServiceUnavailableError`` with the reason, and the test
skips with that message.

On the server, the mode works in a database and a virtual host of its own (``ScratchDatabase``,
``ScratchVirtualHost``), dropped at the end: the machine is left as it was.

Run by hand: ``python tests/scale_services.py`` says what it finds (and starts nothing).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
import secrets
import shutil
import socket
import subprocess
import time

HOST = '127.0.0.1'
POSTGRESQL_PORT = 5432
RABBITMQ_PORT = 5672
#: The broker's default account on loopback.
RABBITMQ_USER = ('guest', 'guest')


class ServiceUnavailableError(RuntimeError):
    """A service is not running and could not be started or installed here; the message says why."""


def port_open(port: int, host: str = HOST, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at ``host:port``."""
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=timeout):
        return True
    return False


def _wait_for_port(port: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if port_open(port):
            return True
        time.sleep(0.5)
    return False


def _run(command: list[str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)


def _apt_install(package: str) -> None:
    """Install a Debian package; raise ``ServiceUnavailableError`` when this machine cannot."""
    if shutil.which('apt-get') is None:
        raise ServiceUnavailableError(f'{package} is not installed and this machine has no apt-get to install it')
    if os.geteuid() != 0:
        raise ServiceUnavailableError(
            f'{package} is not installed and installing it needs root (run as root or install it)'
        )
    environment = {**os.environ, 'DEBIAN_FRONTEND': 'noninteractive'}
    for command in (
        ['apt-get', 'install', '-y', '--no-install-recommends', package],
        ['apt-get', 'update'],
        ['apt-get', 'install', '-y', '--no-install-recommends', package],
    ):
        result = subprocess.run(command, capture_output=True, text=True, env=environment, timeout=900, check=False)
        if result.returncode == 0 and command[1] == 'install':
            return
    raise ServiceUnavailableError(f'`apt-get install {package}` failed: {result.stderr.strip()[-500:]}')


@dataclasses.dataclass
class Service:
    """A server on loopback: its name, port, whether this session started it and how to stop it then."""

    name: str
    port: int
    started_here: bool = False
    installed_here: bool = False
    stop_command: list[str] | None = None

    def stop_if_started(self) -> str:
        """Stop the server when this session started it; leave one that was running before. Return what was done."""
        if not self.started_here:
            return f'{self.name} was running before: left running'
        result = _run(self.stop_command, timeout=120)
        if result.returncode != 0:
            return f'{self.name} could not be stopped ({" ".join(self.stop_command)}): {result.stderr.strip()}'
        return f'{self.name} was started here: stopped'


def _postgresql_clusters() -> list[str]:
    """The versions of the Debian PostgreSQL clusters (``/etc/postgresql/<version>/main``)."""
    root = pathlib.Path('/etc/postgresql')
    return sorted(path.parent.name for path in root.glob('*/main')) if root.is_dir() else []


def ensure_postgresql() -> Service:
    """A PostgreSQL server at 127.0.0.1:5432: the running one, or Debian's cluster started (installed if missing)."""
    if port_open(POSTGRESQL_PORT):
        return Service('PostgreSQL', POSTGRESQL_PORT)
    installed_here = False
    if shutil.which('pg_ctlcluster') is None or not _postgresql_clusters():
        _apt_install('postgresql')
        installed_here = True
    versions = _postgresql_clusters()
    if not versions:
        raise ServiceUnavailableError('PostgreSQL is installed but has no cluster in /etc/postgresql/*/main')
    command = ['pg_ctlcluster', '--skip-systemctl-redirect', versions[-1], 'main']
    result = _run([*command, 'start'], timeout=120)
    if not _wait_for_port(POSTGRESQL_PORT, 60):
        raise ServiceUnavailableError(f'PostgreSQL did not start on port {POSTGRESQL_PORT}: {result.stderr.strip()}')
    return Service('PostgreSQL', POSTGRESQL_PORT, True, installed_here, [*command, 'stop'])


def ensure_rabbitmq() -> Service:
    """A RabbitMQ broker at 127.0.0.1:5672: the running one, or Debian's started (installed if missing)."""
    if port_open(RABBITMQ_PORT):
        return Service('RabbitMQ', RABBITMQ_PORT)
    installed_here = False
    if shutil.which('rabbitmq-server') is None:
        _apt_install('rabbitmq-server')
        installed_here = True
    # The Debian package may start it itself (an init script); start it detached when it did not.
    if not _wait_for_port(RABBITMQ_PORT, 5):
        _run(['rabbitmq-server', '-detached'], timeout=60)
    if not _wait_for_port(RABBITMQ_PORT, 120):
        raise ServiceUnavailableError(f'RabbitMQ did not start on port {RABBITMQ_PORT}')
    return Service('RabbitMQ', RABBITMQ_PORT, True, installed_here, ['rabbitmqctl', 'stop'])


# The mode's own database and virtual host ----------------------------------------------------------------------------


def _admin_sql(statement: str) -> None:
    """Run ``statement`` as PostgreSQL's superuser: over TCP where loopback trusts it, else over the local socket."""
    import psycopg

    try:
        with psycopg.connect(host=HOST, port=POSTGRESQL_PORT, user='postgres', dbname='postgres', autocommit=True) as c:
            c.execute(statement)
        return
    except psycopg.OperationalError as exception:
        tcp_error = exception
    # A server installed here has Debian's password rule on TCP; its socket admits the postgres user (peer).
    if shutil.which('runuser') and os.geteuid() == 0:
        result = _run(['runuser', '-u', 'postgres', '--', 'psql', '-v', 'ON_ERROR_STOP=1', '-c', statement], 60)
        if result.returncode == 0:
            return
        raise ServiceUnavailableError(f'PostgreSQL refused `{statement}`: {result.stderr.strip()}')
    raise ServiceUnavailableError(f'cannot act as the PostgreSQL superuser at {HOST}:{POSTGRESQL_PORT}: {tcp_error}')


@dataclasses.dataclass
class ScratchDatabase:
    """A PostgreSQL role and database of that name, with a random password, made for one run and dropped after."""

    name: str
    password: str = dataclasses.field(default_factory=lambda: secrets.token_hex(16))

    def create(self) -> ScratchDatabase:
        _admin_sql(f"CREATE ROLE {self.name} LOGIN PASSWORD '{self.password}'")
        _admin_sql(f'CREATE DATABASE {self.name} OWNER {self.name} ENCODING UTF8 TEMPLATE template0')
        return self

    def drop(self) -> None:
        """Drop the database (closing what still connects to it) and the role."""
        _admin_sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{self.name}' "
            'AND pid <> pg_backend_pid()'
        )
        _admin_sql(f'DROP DATABASE IF EXISTS {self.name}')
        _admin_sql(f'DROP ROLE IF EXISTS {self.name}')

    @staticmethod
    def exists(name: str) -> bool:
        import psycopg

        with psycopg.connect(host=HOST, port=POSTGRESQL_PORT, user='postgres', dbname='postgres') as connection:
            row = connection.execute('SELECT 1 FROM pg_database WHERE datname = %s', (name,)).fetchone()
        return row is not None


@dataclasses.dataclass
class ScratchVirtualHost:
    """A RabbitMQ virtual host for one run (every queue and exchange of the run lives in it), deleted after.

    Made with ``rabbitmqctl`` (root on the broker's machine). Where that is not possible the run uses the
    default virtual host, and ``delete`` removes the queue and exchanges aiida-core declared for the profile.
    """

    name: str
    created: bool = False

    def create(self) -> ScratchVirtualHost:
        if shutil.which('rabbitmqctl'):
            made = _run(['rabbitmqctl', 'add_vhost', self.name], 60)
            allowed = _run(['rabbitmqctl', 'set_permissions', '-p', self.name, RABBITMQ_USER[0], '.*', '.*', '.*'], 60)
            self.created = made.returncode == 0 and allowed.returncode == 0
        return self

    @property
    def broker_name(self) -> str:
        """The virtual host the profile names: this one, or the default one ('') when it could not be made."""
        return self.name if self.created else ''

    def delete(self, profile_uuid: str | None = None) -> None:
        if self.created:
            _run(['rabbitmqctl', 'delete_vhost', self.name], 60)
        elif profile_uuid:
            _delete_profile_objects(f'aiida-{profile_uuid}')

    def exists(self) -> bool:
        result = _run(['rabbitmqctl', 'list_vhosts', '--quiet'], 60)
        return self.name in result.stdout.split()


def _delete_profile_objects(prefix: str) -> None:
    """Delete the durable queue and exchanges aiida-core declares for a profile (``aiida-<uuid>.*``)."""
    import asyncio

    import aio_pika

    async def delete():
        user, password = RABBITMQ_USER
        connection = await aio_pika.connect(host=HOST, port=RABBITMQ_PORT, login=user, password=password)
        async with connection:
            channel = await connection.channel()
            with contextlib.suppress(Exception):
                await channel.queue_delete(f'{prefix}.process.queue')
            for exchange in (f'{prefix}.messages', f'{prefix}.tasks'):
                with contextlib.suppress(Exception):
                    await channel.exchange_delete(exchange)

    asyncio.run(delete())


if __name__ == '__main__':
    for name, port in (('PostgreSQL', POSTGRESQL_PORT), ('RabbitMQ', RABBITMQ_PORT)):
        print(f'{name} at {HOST}:{port}: {"running" if port_open(port) else "not running"}')
