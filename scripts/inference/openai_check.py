#!/usr/bin/env python3
"""Checks proxy-inference with the official `openai` Python client, unchanged.

usage: openai_check.py BASE_URL API_KEY MODEL
BASE_URL is the proxy's /v1 root (e.g. http://127.0.0.1:8090/v1). Exits 0 when every check
passes; prints what failed otherwise. Needs `pip install openai`.
"""
import sys

try:
    import openai
except ImportError:
    print("the openai Python client is not installed: pip install openai", file=sys.stderr)
    sys.exit(3)


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def main():
    base_url, key, model = sys.argv[1], sys.argv[2], sys.argv[3]
    client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=30)

    models = [m.id for m in client.models.list().data]
    check(model in models, f"models.list() has {model}: {models}")

    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "hello from python"}], max_tokens=5)
    text = reply.choices[0].message.content
    check(text.startswith("Test engine says:"), f"chat reply: {text!r}")
    check(reply.usage.completion_tokens == 5, f"chat usage: {reply.usage}")

    pieces = []
    chunks = 0
    for chunk in client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hello from python"}], max_tokens=5,
            stream=True):
        chunks += 1
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    check(chunks >= 5, f"stream chunks: {chunks}")
    check("".join(pieces) == text, f"streamed text {''.join(pieces)!r} != {text!r}")

    usage_chunks = [c for c in client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "x"}], max_tokens=3, stream=True,
        stream_options={"include_usage": True}) if c.usage is not None]
    check(len(usage_chunks) == 1 and usage_chunks[0].usage.completion_tokens == 3,
          f"include_usage chunk: {usage_chunks}")

    completion = client.completions.create(model=model, prompt="a b c", max_tokens=4)
    check(completion.usage.completion_tokens == 4, f"completion usage: {completion.usage}")

    embeddings = client.embeddings.create(model=model, input=["one", "two words"])
    check(len(embeddings.data) == 2 and len(embeddings.data[0].embedding) > 0, "embeddings")

    try:
        openai.OpenAI(base_url=base_url, api_key="cak_bad_key", max_retries=0).chat.completions.create(
            model=model, messages=[{"role": "user", "content": "x"}])
        raise AssertionError("a bad key was accepted")
    except openai.AuthenticationError as error:
        check(error.status_code == 401, f"bad key status {error.status_code}")

    try:
        client.chat.completions.create(model="no-such-model", messages=[{"role": "user", "content": "x"}])
        raise AssertionError("an unknown model was accepted")
    except openai.NotFoundError as error:
        check(error.status_code == 404, f"unknown model status {error.status_code}")

    print("openai client checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as failure:
        print(f"check failed: {failure}", file=sys.stderr)
        sys.exit(1)
