# --- build: a static binary --------------------------------------------------
# Runs on the builder's own platform and cross-compiles for the target one (buildx sets both), so
# a multi-arch build (linux/amd64,linux/arm64) never runs the Go compiler under emulation.
FROM --platform=$BUILDPLATFORM golang:1.26-bookworm AS build

WORKDIR /src

# Modules first, so they are cached while only the code changes.
COPY go.mod go.sum ./
RUN go mod download

COPY . .

ARG VERSION=dev
ARG TARGETOS TARGETARCH
RUN CGO_ENABLED=0 GOOS=$TARGETOS GOARCH=$TARGETARCH go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/circly ./cmd/circly \
 && mkdir -p /out/data

# --- run: distroless, non-root -----------------------------------------------
FROM gcr.io/distroless/static-debian12:nonroot

COPY --from=build /out/circly /circly
COPY --from=build --chown=65532:65532 /out/data /data

ENV DATA_DIR=/data \
    PORT=8000

USER 65532:65532
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 CMD ["/circly", "healthcheck"]

ENTRYPOINT ["/circly"]
CMD ["serve"]
