"""The worker's queue poll comes from the settings: it bounds how long a deferred ring or the sweep
waits for an idle worker (rung jobs wake it at once, see test_worker_wakeup)."""

from app.settings import Settings
from app.workers import arq_worker


def test_worker_polls_the_queue_as_often_as_the_settings_say(monkeypatch):
    settings = Settings(REDIS_URL="redis://127.0.0.1:6379/0", POSSYNC_WORKER_POLL_DELAY_S=0.03)
    monkeypatch.setattr(arq_worker, "get_settings", lambda: settings)
    assert arq_worker.worker_settings()["poll_delay"] == 0.03
