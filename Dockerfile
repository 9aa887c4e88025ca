# One image for web, worker and beat; docker-compose.yml picks the command.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app

COPY pyproject.toml README.md ./
COPY choso ./choso
COPY market ./market
COPY payments ./payments
COPY matching ./matching
COPY fees ./fees
COPY operations ./operations
COPY web ./web
# warm-up: the matching solver's kernels are compiled into the image, not in the first round.
RUN pip install . && choso match warm-up && useradd --create-home --uid 1000 choso && mkdir -p /app/var && chown choso /app/var
USER choso

EXPOSE 8000
CMD ["choso", "serve", "--host", "0.0.0.0", "--port", "8000"]
