# Kiln: build on the official Swift image, run on a slim image with only the runtime libraries.
FROM swift:6.3-bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl-dev zlib1g-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product kiln --static-swift-stdlib \
 && cp "$(swift build -c release --show-bin-path)/kiln" /usr/local/bin/kiln

FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends libssl3 zlib1g ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --create-home --uid 10001 kiln
COPY --from=build /usr/local/bin/kiln /usr/local/bin/kiln
COPY Config/kiln.toml /etc/kiln/kiln.toml
# Kiln's own image model (8 MB), found from /usr/local/bin/kiln as ../share/kiln/models/kiln-shapes-dit.
COPY Models/kiln-shapes-dit /usr/local/share/kiln/models/kiln-shapes-dit
USER kiln
WORKDIR /home/kiln
EXPOSE 8080
# Models are mounted or baked in at /models; see README.md.
ENV KILN_HOST=0.0.0.0 KILN_PORT=8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["/usr/local/bin/kiln"]
CMD ["serve", "--config", "/etc/kiln/kiln.toml"]
