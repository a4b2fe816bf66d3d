# ExStreamTV: the same server the README's quick start runs, with Debian's ffmpeg.
#   docker build -t exstreamtv .
#   docker run -p 8409:8409 -v exstreamtv-data:/data exstreamtv
# HDHomeRun discovery (UDP 65001) needs LAN broadcasts, which Docker's bridge network does
# not pass on: run with --network host for media servers to find the tuner by themselves.
# Mount a folder holding your exstreamtv.yaml at /config, and your media where it points.
# scripts/docker-check builds this image and smoke-tests it (health, M3U, 3 s of a channel).
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg fontconfig fonts-dejavu-core \
       fonts-droid-fallback postgresql-client \
    && rm -rf /var/lib/apt/lists/*

COPY pyproject.toml README.md /src/
COPY exstreamtv /src/exstreamtv
COPY plugins /src/plugins
# imageio-ffmpeg's static ffmpeg (about 170 MB) is only a fallback for machines without
# ffmpeg on PATH; here Debian's is always there, so the bundled binary is dropped.
# [postgres]: asyncpg, so database.url may point at PostgreSQL (pg_dump backs it up).
RUN pip install --no-cache-dir "/src[postgres]" \
    && rm -rf /src \
    && python -c "import imageio_ffmpeg, pathlib; [f.unlink() for f in \
        (pathlib.Path(imageio_ffmpeg.__file__).parent / 'binaries').glob('ffmpeg-*')]" \
    && useradd --system --home-dir /data exstreamtv

COPY config/exstreamtv.yaml /config/exstreamtv.yaml
RUN mkdir -p /data && chown exstreamtv /data /config

USER exstreamtv
WORKDIR /data
VOLUME ["/config", "/data"]
EXPOSE 8409 65001/udp
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8409/api/health', timeout=4)"
CMD ["exstreamtv", "serve", "--config", "/config/exstreamtv.yaml", "--host", "0.0.0.0"]
