# affect in a container: Debian bookworm with OpenCV 4.6 (the newest gocv
# v0.32.0 builds against). Build: docker build -t affect .
# Run the bundled sample: docker run --rm -p 8080:8080 affect session --http 0.0.0.0:8080 --http-token SECRET
# Score a video: docker run --rm -v "$PWD:/data" affect score /data/video.mp4 --out /data/out
# A study worker (any number, on any machines; videos uploaded with
# 'affect study submit --upload', or mount the shared folder at the same path):
#   docker run --rm affect worker --nats nats://nats.lab:4222 --nats-user worker --nats-password "$PW"
# A live session against an external server:
#   docker run --rm --device /dev/video0 affect session --source 0 --session s07 --nats nats://nats.lab:4222
# Checked by scripts/container-check.sh (podman 4.3 from Debian, 2026-12-01):
# the image builds, runs `affect session` (embedded and external broker) and
# `affect worker`, whose results equal a local `affect score`.
FROM golang:1.26-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends libopencv-dev pkg-config && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN go build -trimpath -o /out/affect ./cmd/affect

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
      libopencv-core406 libopencv-imgproc406 libopencv-imgcodecs406 libopencv-videoio406 \
      libopencv-objdetect406 libopencv-dnn406 libopencv-calib3d406 libopencv-features2d406 \
      libopencv-flann406 libopencv-highgui406 libopencv-photo406 libopencv-video406 \
      opencv-data ca-certificates \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/affect /usr/local/bin/affect
COPY samples /usr/share/affect/samples
COPY deploy /usr/share/affect/deploy
ENV AFFECT_SAMPLE=/usr/share/affect/samples/sample.mp4
RUN useradd -m affect
USER affect
ENTRYPOINT ["affect"]
CMD ["session", "--out", "/home/affect/out"]
