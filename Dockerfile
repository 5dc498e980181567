# farod: the SLO-aware autoscaler daemon. Built for the Helm chart (helm/farod), which runs it as
# uid 10001 on a read-only root filesystem with the config mounted at /etc/farod.
#   docker build -t registry.example.com/ml/farod:0.1.0 . && docker push registry.example.com/ml/farod:0.1.0
#   docker run -v $PWD/config:/etc/farod farod --config /etc/farod/farod.example.yaml
# The daemon only (`pip install .`, no extras): no Ray, numba or matplotlib in the image. The install
# step (docker/install-daemon.sh) compiles bytecode at build time, keeps no pip cache and drops the
# libraries' bundled test suites; bench/install_size.py runs the same script and measures what it leaves.

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY farod ./farod
COPY docker/install-daemon.sh ./docker/
RUN sh docker/install-daemon.sh /install

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
COPY --from=build /install /usr/local
RUN groupadd --system --gid 10001 farod \
 && useradd --system --uid 10001 --gid farod --no-create-home --shell /usr/sbin/nologin farod
# numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["farod", "run"]
CMD ["--config", "/etc/farod/farod.yaml"]
