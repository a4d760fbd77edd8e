"""TensorFlow's retracing notice is dropped only while fresh networks make their first calls."""
import logging

from submission.models import first_traces

NOTICE = ("5 out of the last 10 calls to <function one_step_on_data_distributed> triggered tf.function "
          "retracing. Tracing is expensive")


def test_the_notice_is_dropped_inside_the_block_only(caplog):
    log = logging.getLogger("tensorflow")
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        with first_traces():
            log.warning(NOTICE)
            log.warning("some other tensorflow warning")
        log.warning(NOTICE)
    messages = [r.getMessage() for r in caplog.records]
    assert messages == ["some other tensorflow warning", NOTICE]
    assert not [f for f in log.filters if type(f).__name__ == "_RetraceNotice"]


def test_the_filter_is_removed_when_the_block_raises():
    log = logging.getLogger("tensorflow")
    try:
        with first_traces():
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert not [f for f in log.filters if type(f).__name__ == "_RetraceNotice"]
