# The service with the default bundle (breast-cancer SVC) trained into the image, on port 3000.
#   docker build -t explained-model .   (or: buildah build -t explained-model .)
#   docker run --rm -p 3000:3000 explained-model
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BENTOML_DO_NOT_TRACK=true \
    BENTOML_HOME=/home/app/bentoml \
    MPLCONFIGDIR=/tmp/matplotlib

RUN useradd --create-home --uid 10001 app
WORKDIR /home/app/src

# dependencies first: this layer is reused while only the code changes
COPY requirements.lock ./
RUN pip install -r requirements.lock

COPY scoring/ scoring/
COPY training/ training/
COPY service/ service/
USER app
# the default bundle (`breast_cancer_svc`) into the image's model store; no Bento is built
RUN python -m training --no-build --quiet

# readiness: GET /readyz (liveness /livez)
EXPOSE 3000
CMD ["bentoml", "serve", "service:ExplainedModel", "--host", "0.0.0.0", "--port", "3000"]
