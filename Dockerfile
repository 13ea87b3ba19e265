# Nyx Trainer in a container: CUDA runtime, Nyx's and sd-scripts' environments baked in by the same
# setup.sh the pods run, a non-root user, the workspace on a volume, the dashboard on 8501 behind a
# password. Build: docker build -t nyx-trainer .   Run: see compose.yaml and docs/deploy.md.
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04

ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    NYX_WORKSPACE=/workspace \
    NYX_PORT=8501 \
    NYX_VENV=/opt/nyx/.venv

# git: setup.sh fetches sd-scripts at the pin; libgl1/libglib2.0-0: opencv (sd-scripts);
# tini: PID 1 that forwards stop signals and reaps the detached training runners' children.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev git ca-certificates curl \
      libgl1 libglib2.0-0 tini \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --create-home --uid 1000 nyx \
 && mkdir -p /opt/nyx /workspace \
 && chown nyx:nyx /opt/nyx /workspace

USER nyx
WORKDIR /opt/nyx
COPY --chown=nyx:nyx requirements.txt pyproject.toml README.md ./
COPY --chown=nyx:nyx *.py ./
COPY --chown=nyx:nyx .streamlit ./.streamlit
COPY --chown=nyx:nyx nyx_core ./nyx_core
COPY --chown=nyx:nyx nyx_ui ./nyx_ui
COPY --chown=nyx:nyx pages ./pages
COPY --chown=nyx:nyx provisioning ./provisioning

# No GPU during a build, so name the torch build instead of letting nvidia-smi choose it.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cu128
ARG SETUP_FLAGS="--lycoris"
RUN NYX_WORKSPACE=/tmp/build-workspace TORCH_INDEX_URL="$TORCH_INDEX_URL" bash provisioning/setup.sh $SETUP_FLAGS \
 && rm -rf /tmp/build-workspace /home/nyx/.cache/pip

VOLUME ["/workspace"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s --retries=3 \
  CMD curl -fsS "http://127.0.0.1:${NYX_PORT}/_stcore/health" || exit 1
# The same entry the VastAI and RunPod scripts end in: set-up (all skipped: done at build time,
# it only records the interpreters in the workspace), password, UI under a restart loop.
ENTRYPOINT ["/usr/bin/tini", "--", "bash", "/opt/nyx/provisioning/pod_start.sh"]
