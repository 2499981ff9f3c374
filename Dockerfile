# Production image: Python 3.11, the pinned requirements, the npm front-end packages, static files.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOST=0.0.0.0
RUN apt-get update && apt-get install -y --no-install-recommends nodejs npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY requirements.txt constraints.txt package.json package-lock.json ./
RUN pip install --no-cache-dir -r requirements.txt -c constraints.txt && npm ci --no-audit --no-fund --loglevel=error
COPY . .
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=collectstatic-only DJANGO_ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput
RUN useradd --create-home quorum && chown -R quorum /app
USER quorum
EXPOSE 8000
CMD ["gunicorn", "config.wsgi:application"]
