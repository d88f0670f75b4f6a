"""Fixtures shared by several test files (tiny models from factories.py), and the suite's network guard."""

import ipaddress
import socket

import pytest


class NetworkAccessInTestError(RuntimeError):
    """A test tried to reach a host other than this machine (the suite must never touch the network)."""


_real_connect = socket.socket.connect
_real_getaddrinfo = socket.getaddrinfo
_LOCAL_NAMES = {"localhost", socket.gethostname()}


def _is_local(host) -> bool:
    if host is None or host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _loopback_only_connect(sock, address):
    # Only AF_INET/AF_INET6 are checked: unix sockets (e.g. a local Ray or Java helper) stay allowed.
    if sock.family in (socket.AF_INET, socket.AF_INET6):
        if not _is_local(address[0]):
            raise NetworkAccessInTestError(f"a test tried to connect to {address!r}; tests may only reach 127.0.0.1")
    return _real_connect(sock, address)


def _local_only_getaddrinfo(host, *args, **kwargs):
    host_text = host.decode() if isinstance(host, bytes) else host
    if not _is_local(host_text):
        raise NetworkAccessInTestError(f"a test tried to resolve {host_text!r}; tests may only reach 127.0.0.1")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _no_network():
    """Fail at once (instead of retrying for a minute) when anything reaches for a remote host."""
    socket.socket.connect = _loopback_only_connect
    socket.getaddrinfo = _local_only_getaddrinfo
    yield
    socket.socket.connect = _real_connect
    socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Every test runs on one torch thread: on this shared 2-core box two OpenMP threads competing with other jobs made
    a 2 s training test take 55 s. Tests that measure threading set their own count inside."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def genau_pipe():
    from factories import tiny_genau_pipeline

    return tiny_genau_pipeline()


@pytest.fixture(scope="module")
def autocap_pipe():
    from hf_audiogen.autocap import AutoCapPipeline

    from factories import tiny_autocap_model, tiny_autocap_processor

    return AutoCapPipeline(model=tiny_autocap_model(), processor=tiny_autocap_processor())
