# The submission image: `ra2 predict` (and, without a bundle, `ra2 train`) behind run.sh.
#
#   docker build -t ra2-submission .                                   # GPU-capable TensorFlow, no bundle
#   docker build -t ra2-submission --build-arg BUNDLE=bundles/final .  # with a trained model bundle
#   docker build --build-arg TF_PACKAGE=tensorflow-cpu ...             # CPU-only, much smaller
#
# docs/container.md says how to run, convert to Singularity/Apptainer and submit.
# Layers are ordered from the rarest change to the most frequent: the dependencies
# (TensorFlow) depend only on pyproject.toml's dependency list and the build arguments,
# so a code change reuses them; the bundle comes last.

# any base with python3 >= 3.11 and its venv module (Debian-like: useradd)
ARG BASE=python:3.11-slim

# The dependency list, from pyproject.toml: the install below is redone only when this
# list changes, not on every edit of pyproject.toml.
FROM ${BASE} AS requirements
COPY pyproject.toml container/pyproject_deps.py /deps/
RUN python3 /deps/pyproject_deps.py /deps/pyproject.toml method > /deps/requirements.txt

FROM ${BASE}

# tensorflow[and-cuda] brings the CUDA libraries as wheels, so `docker run --gpus all`
# uses the GPU on a plain Python base; tensorflow-cpu is about 2 GB smaller
ARG TF_PACKAGE=tensorflow[and-cuda]
# optional version pins, e.g. "keras==3.15.1 numpy==2.4.6" (pip constraints: they never add a package)
ARG PINS=""
# a CA bundle for pip behind a TLS-intercepting proxy (a path inside the base image)
ARG PIP_CERT

ENV VIRTUAL_ENV=/opt/ra2/venv \
    PATH=/opt/ra2/venv/bin:$PATH \
    KERAS_BACKEND=tensorflow \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    TF_CPP_MIN_LOG_LEVEL=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# 1. dependencies and TensorFlow: rebuilt only when the dependency list or a build argument changes
COPY --from=requirements /deps/requirements.txt /opt/ra2/deps/
RUN python3 -m venv "$VIRTUAL_ENV" \
 && printf '%s\n' $PINS > /opt/ra2/deps/constraints.txt \
 && pip install -c /opt/ra2/deps/constraints.txt -r /opt/ra2/deps/requirements.txt "$TF_PACKAGE" \
 && python -c "import keras, tensorflow; print('keras', keras.__version__, 'tensorflow', tensorflow.__version__)"

# 2. the project itself, without its dependencies (installed above)
COPY pyproject.toml README.m[d] /opt/ra2/src/
COPY ra2 /opt/ra2/src/ra2
COPY challenge /opt/ra2/src/challenge
COPY evaluator /opt/ra2/src/evaluator
COPY baselines /opt/ra2/src/baselines
COPY submission /opt/ra2/src/submission
COPY workflows /opt/ra2/src/workflows
RUN pip install --no-deps /opt/ra2/src \
 && rm -rf /opt/ra2/src \
 && ra2 --help > /dev/null

# 3. the entry point, the folders of the challenge's contract and an unprivileged user
COPY run.sh /opt/ra2/run.sh
COPY container/runinfo.py /opt/ra2/container/runinfo.py
RUN mkdir -p /train /test /output \
 && useradd --uid 1000 --user-group --no-create-home --home-dir /tmp/ra2-home --shell /usr/sbin/nologin ra2 \
 && chown ra2:ra2 /output

# 4. the model bundle (last: it changes with every training run): a folder inside the build
# context (`ra2 train --out bundles/NAME`). Its argument is declared here, not above: a build
# argument declared before a RUN is part of that RUN's cache key, so a new bundle path would
# otherwise redo the TensorFlow install
ARG BUNDLE=container/no-bundle
COPY ${BUNDLE} /opt/ra2/bundle/

USER ra2
WORKDIR /tmp
ENTRYPOINT ["/opt/ra2/run.sh"]
