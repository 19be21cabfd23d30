# Kiln's container image, which serves out of the box: `docker build -t kiln .` then
# `docker run -p 8080:8080 kiln` (README.md, "Container"). Three stages:
#   build    the release binary, built as Scripts/serve.sh builds it, with the Swift runtime linked in;
#   models   the default text and embedding models, fetched by Scripts/fetch-model.py and checked
#            against the sha256 pins of Scripts/models.json (a mismatch fails the build); also the
#            init-container image of deploy/kubernetes: `docker build --target models -t kiln-models .`;
#   runtime  a slim Debian with libssl and zlib, the binary, the models and Kiln's own image model,
#            run as a non-root user. Tests/Repository/test_dockerfile.py checks these stages.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev zlib1g-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product kiln --static-swift-stdlib \
 && cp "$(swift build -c release --product kiln --static-swift-stdlib --show-bin-path)/kiln" /usr/local/bin/kiln

FROM python:3.12-slim-bookworm AS models
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY Scripts/fetch-model.py Scripts/models.json /opt/kiln/
RUN python3 /opt/kiln/fetch-model.py --cache /models --defaults \
 && python3 /opt/kiln/fetch-model.py --cache /models --verify --defaults
ENTRYPOINT ["python3", "/opt/kiln/fetch-model.py"]
CMD ["--defaults"]

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 zlib1g ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 kiln
COPY --from=build /usr/local/bin/kiln /usr/local/bin/kiln
COPY Config/kiln.toml /etc/kiln/kiln.toml
# Kiln's own image model (8 MB), found from /usr/local/bin/kiln as ../share/kiln/models/kiln-shapes-dit.
COPY Models/kiln-shapes-dit /usr/local/share/kiln/models/kiln-shapes-dit
# And its GAN (3 MB), found the same way as ../share/kiln/models/kiln-shapes-gan.
COPY Models/kiln-shapes-gan /usr/local/share/kiln/models/kiln-shapes-gan
# The default text and embedding models, as the model cache (read-only, owned by root).
COPY --from=models /models /usr/local/share/kiln/cache
# The fetch, found from the binary as ../share/kiln/fetch-model.py: with python3 absent here it
# cannot run, but a missing model's error names it.
COPY Scripts/fetch-model.py Scripts/models.json /usr/local/share/kiln/
USER kiln
WORKDIR /home/kiln
EXPOSE 8080
# Other models: mount them and name them (--model /models/FILE.gguf, KILN_MODEL), or mount a cache
# and set KILN_MODEL_CACHE; see README.md.
ENV KILN_HOST=0.0.0.0 KILN_PORT=8080 KILN_MODEL_CACHE=/usr/local/share/kiln/cache
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["/usr/local/bin/kiln"]
CMD ["serve", "--config", "/etc/kiln/kiln.toml"]
