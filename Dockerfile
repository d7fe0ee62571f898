# The service and one bundle, on port 3000.
#   docker build -t explained-model .                       # the default bundle, trained here
#   bentoml models export my_model:latest bundles/          # or any bundle of yours:
#   docker build --build-arg BUNDLE=my_model:latest -t my-model .
#   docker run --rm -p 3000:3000 my-model
# (buildah build ... works the same.) Two stages: the first imports (or trains) the bundle with
# the full dependencies; the image itself holds only what serving needs: the service and engine
# code, that bundle, the service's dependencies and the bundle's model library, as a non-root user.
ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS bundle
ENV PYTHONDONTWRITEBYTECODE=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BENTOML_DO_NOT_TRACK=true \
    BENTOML_HOME=/build/bentoml \
    MPLCONFIGDIR=/tmp/matplotlib
# LightGBM needs the OpenMP runtime to load (here: to train or check a LightGBM bundle)
RUN apt-get update && apt-get install -y --no-install-recommends libgomp1 && rm -rf /var/lib/apt/lists/*
WORKDIR /build/src
COPY requirements.lock pyproject.toml ./
RUN pip install -r requirements.lock
COPY scoring/ scoring/
COPY training/ training/
COPY service/ service/
COPY bundles/ bundles/
ARG BUNDLE=breast_cancer_svc:latest
RUN python -m training.image --bundle "${BUNDLE}" --imports bundles --out /build/image

FROM ${BASE_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    BENTOML_DO_NOT_TRACK=true \
    BENTOML_HOME=/home/app/bentoml \
    OMP_NUM_THREADS=1 \
    OPENBLAS_NUM_THREADS=1
RUN useradd --create-home --uid 10001 app
WORKDIR /home/app/src
COPY requirements.lock ./
COPY --from=bundle /build/image/requirements.txt ./requirements-serve.txt
COPY --from=bundle /build/image/apt-packages.txt ./
RUN if [ -s apt-packages.txt ]; then apt-get update \
    && apt-get install -y --no-install-recommends $(cat apt-packages.txt) && rm -rf /var/lib/apt/lists/*; fi \
 && rm apt-packages.txt
# the libraries' own test suites (about 120 MB) are never imported when serving
RUN pip install -c requirements.lock -r requirements-serve.txt \
 && find /usr/local/lib/python3.11/site-packages -depth -type d -name tests -exec rm -rf {} + \
 && rm -rf /root/.cache requirements.lock requirements-serve.txt
COPY scoring/ scoring/
COPY service/ service/
COPY --from=bundle --chown=app /build/image/models /home/app/bentoml/models
ARG BUNDLE=breast_cancer_svc:latest
ENV BUNDLE=${BUNDLE}
USER app

# readiness: GET /readyz (liveness /livez)
EXPOSE 3000
CMD ["bentoml", "serve", "service:ExplainedModel", "--host", "0.0.0.0", "--port", "3000"]
