# The image of `circly backup` / `circly restore`: the same binary plus pg_dump and pg_restore,
# which the distroless serving image lacks. pg_dump must be at least the server's major version
# (PostgreSQL 15 here, as in compose.yaml).
#   docker build -f deploy/backup.Dockerfile -t ghcr.io/circly/circly-backup .
# The build stage cross-compiles, as the Dockerfile's does (no Go compiler under emulation).
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build

WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG TARGETOS TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/circly ./cmd/circly

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-15 ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/circly /usr/local/bin/circly
ENV DATA_DIR=/data
USER 65532:65532
ENTRYPOINT ["circly"]
CMD ["backup"]
