"""The one rule every adapter uses before fetching a URL from a payload (adapters/media_fetch.py)."""

from __future__ import annotations

import pytest
from tpbridge.adapters.media_fetch import MediaHosts
from tpbridge.adapters.qq.api import MEDIA_HOSTS as QQ_HOSTS
from tpbridge.adapters.x.media import MEDIA_HOSTS as X_HOSTS
from yarl import URL

X = MediaHosts.of(X_HOSTS, "https://api.x.com")
QQ = MediaHosts.of(QQ_HOSTS, "http://127.0.0.1:9000")


@pytest.mark.parametrize(("hosts", "url", "allowed"), [
    (X, "https://pbs.twimg.com/media/a.jpg", True),
    (X, "https://ton.twitter.com/1.1/ton/data/dm/1/2/a.jpg", True),
    (X, "https://api.x.com/2/media/1", True),  # the channel's own API origin
    (X, "http://pbs.twimg.com/media/a.jpg", False),  # not over https
    (X, "https://pbs.twimg.com.evil.example/a.jpg", False),
    (X, "https://evil.example/pbs.twimg.com/a.jpg", False),
    (X, "https://user:pw@pbs.twimg.com/a.jpg", False),
    (X, "http://127.0.0.1:8080/api/v1/me", False),
    (X, "http://169.254.169.254/latest/meta-data/", False),
    (X, "file:///etc/passwd", False),
    (X, "https://api.x.com:8443/2/media/1", False),  # another port is another origin
    (QQ, "https://multimedia.nt.qq.com.cn/download?x=1", True),
    (QQ, "https://gchat.qpic.cn/a.jpg", True),
    (QQ, "http://127.0.0.1:9000/media/pic.jpg", True),  # the configured API (a test fake, a proxy)
    (QQ, "http://127.0.0.1:9001/media/pic.jpg", False),
    (QQ, "https://qq.com.evil.example/a", False),
    (QQ, "https://evilqq.com/a", False),
])
def test_only_the_channels_media_hosts(hosts: MediaHosts, url: str, allowed: bool) -> None:
    assert hosts.allows(URL(url)) is allowed
