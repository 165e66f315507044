# syntax=docker/dockerfile:1
# Build: docker build -t borderwatch .
# Run (live capture): docker run --network host --cap-add NET_RAW borderwatch run --capture.interface eth0
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
ARG REVISION=unknown
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/prometheus/common/version.Version=${VERSION} -X github.com/prometheus/common/version.Revision=${REVISION} -X github.com/prometheus/common/version.BuildUser=docker" \
      -o /out/borderwatch ./cmd/borderwatch
# A non-root process gets CAP_NET_RAW only from the file's capabilities
# (Kubernetes and Docker add it to the bounding set, not to the process).
RUN apt-get update -qq && apt-get install -y -qq libcap2-bin && setcap cap_net_raw+ep /out/borderwatch

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/borderwatch /usr/local/bin/borderwatch
USER nonroot:nonroot
EXPOSE 10107
HEALTHCHECK --interval=30s --timeout=5s CMD ["/usr/local/bin/borderwatch", "healthcheck"]
ENTRYPOINT ["/usr/local/bin/borderwatch"]
CMD ["run", "--help"]
