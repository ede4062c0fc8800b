# Builds the pfid binary and a small runtime image (used by docker-compose.yml).
FROM rust:1.95-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libssl-dev pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release -p pfid && cp target/release/pfid /usr/local/bin/pfid

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libssl3 ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* && useradd --system --home /var/lib/pfid pfid \
    && mkdir -p /var/lib/pfid && chown pfid /var/lib/pfid
COPY --from=build /usr/local/bin/pfid /usr/local/bin/pfid
USER pfid
WORKDIR /var/lib/pfid
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/pfid"]
CMD ["serve"]
