# ExStreamTV: the same server the README's quick start runs, with Debian's ffmpeg.
#   docker build -t exstreamtv .
#   docker run -p 8409:8409 -v exstreamtv-data:/data exstreamtv
# Mount your own config at /config/exstreamtv.yaml and your media where it points.
FROM python:3.11-slim-bookworm

RUN apt-get update \
    && apt-get install -y --no-install-recommends ffmpeg fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY pyproject.toml README.md ./
COPY exstreamtv ./exstreamtv
COPY plugins ./plugins
RUN pip install --no-cache-dir . && useradd --system --home /data exstreamtv

COPY config/exstreamtv.yaml /config/exstreamtv.yaml
RUN mkdir -p /data && chown exstreamtv /data /config

USER exstreamtv
WORKDIR /data
VOLUME ["/config", "/data"]
EXPOSE 8409
HEALTHCHECK --interval=30s --timeout=5s CMD python -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:8409/api/health', timeout=4)"
CMD ["exstreamtv", "serve", "--config", "/config/exstreamtv.yaml", "--host", "0.0.0.0"]
