"""The sentence splitter: English and Korean, Markdown, code, streaming behaviour."""

from __future__ import annotations

import pytest

from audio.sentences import SentenceSplitter, split_sentences


def stream(text: str, step: int = 1) -> list[tuple[int, str]]:
    """Feed ``text`` ``step`` characters at a time; (characters fed so far, sentence) pairs."""
    splitter = SentenceSplitter()
    out: list[tuple[int, str]] = []
    for start in range(0, len(text), step):
        for sentence in splitter.feed(text[start : start + step]):
            out.append((start + step, sentence))
    out += [(len(text), sentence) for sentence in splitter.flush()]
    return out


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hello there. How are you? I am fine!",
            ["Hello there.", "How are you?", "I am fine!"],
        ),
        ("It costs 3.5 dollars. Pi is 3.14159.", ["It costs 3.5 dollars.", "Pi is 3.14159."]),
        ("Mr. Kim met Dr. Lee today. They talked.", ["Mr. Kim met Dr. Lee today.", "They talked."]),
        (
            "Bring fruit, e.g. apples. Also i.e. pears.",
            ["Bring fruit, e.g. apples.", "Also i.e. pears."],
        ),
        ("The U.S. Army arrived. Then it left.", ["The U.S. Army arrived.", "Then it left."]),
        ("Read J. R. R. Tolkien. It is good.", ["Read J. R. R. Tolkien.", "It is good."]),
        ("Apples, pears, etc. are fruit. Yes.", ["Apples, pears, etc. are fruit.", "Yes."]),
        ("Wait... what? Really?!", ["Wait... what?", "Really?!"]),
        ("I was… thinking. Okay… Fine.", ["I was… thinking.", "Okay…", "Fine."]),
        ('He said, "Stop." Then he left.', ['He said, "Stop."', "Then he left."]),
        ('"Really?" she asked. (Yes.) Good.', ['"Really?" she asked.', "(Yes.)", "Good."]),
        ("See example.com or v2.0.1 now. Done.", ["See example.com or v2.0.1 now.", "Done."]),
        (
            "I said no. Then I left. Go to No. 5 now.",
            ["I said no.", "Then I left.", "Go to No. 5 now."],
        ),
        ("No terminator at the end", ["No terminator at the end"]),
    ],
)
def test_english(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("안녕하세요. 반가워요!", ["안녕하세요.", "반가워요!"]),
        (
            "오늘 날씨가 좋죠? 산책 갈까? 그래요.",
            ["오늘 날씨가 좋죠?", "산책 갈까?", "그래요."],
        ),
        # Korean endings need no space before the next sentence.
        ("그렇습니다.그리고 비가 옵니다.", ["그렇습니다.", "그리고 비가 옵니다."]),
        ("정말요?네, 맞아요.", ["정말요?", "네, 맞아요."]),
        ("가격은 3.5달러예요. 싸죠?", ["가격은 3.5달러예요.", "싸죠?"]),
        ("서울~부산 기차를 타요~ 재밌겠다.", ["서울~부산 기차를 타요~", "재밌겠다."]),
        ('그가 "안녕."이라고 했어요. 좋아요.', ['그가 "안녕."이라고 했어요.', "좋아요."]),
        ("「좋아요.」 다음에 봐요…", ["「좋아요.」", "다음에 봐요…"]),
        ("좋아요 😊 내일 만나요!", ["좋아요", "내일 만나요!"]),
        ("Python 3.11을 써요. OK?", ["Python 3.11을 써요.", "OK?"]),
    ],
)
def test_korean(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_cjk_full_stops_need_no_space() -> None:
    assert split_sentences("你好。我很好！谢谢？") == ["你好。", "我很好！", "谢谢？"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Great job! 🎉 Next step.", ["Great job!", "Next step."]),
        ("Done ✅ Now rest.", ["Done", "Now rest."]),
        ("I ❤️ you. 🙂", ["I you."]),
        ("👍👍", []),
        ("Family 👨‍👩‍👧 time. Bye 👋🏽", ["Family time.", "Bye"]),
    ],
)
def test_emoji_are_not_spoken(text: str, expected: list[str]) -> None:
    assert split_sentences(text) == expected


def test_markdown_is_stripped() -> None:
    text = (
        "# A title\n"
        "Some **bold**, *italic*, __strong__, _em_ and ~~gone~~ words.\n"
        "A [link text](https://example.com/a.html) and ![an image](x.png) here.\n"
        "> quoted wisdom\n"
        "- first item\n"
        "* second item\n"
        "1. numbered one\n"
        "2) numbered two\n"
        "   - nested item\n"
        "snake_case_name stays, 2 * 3 is six.\n"
        "Visit https://example.com/x.y now.\n"
        "Escaped \\*stars\\* stay.\n"
        "---\n"
    )
    assert split_sentences(text) == [
        "A title",
        "Some bold, italic, strong, em and gone words.",
        "A link text and an image here.",
        "quoted wisdom",
        "first item",
        "second item",
        "numbered one",
        "numbered two",
        "nested item",
        "snake_case_name stays, 2 3 is six.",
        "Visit now.",
        "Escaped *stars* stay.",
    ]


def test_emphasis_across_sentences() -> None:
    assert split_sentences("**This is bold. And more.** Plain.") == [
        "This is bold.",
        "And more.",
        "Plain.",
    ]


def test_code_blocks_and_inline_code_are_skipped() -> None:
    text = (
        "Run this:\n"
        "```bash\n"
        "echo 'Hello. World!'\n"
        "ls -la\n"
        "```\n"
        "Then call `os.path.join(a, b)` twice. Also ``a `b` c`` here.\n"
        "~~~\n"
        "not spoken. at all!\n"
        "~~~\n"
        "Done.\n"
    )
    assert split_sentences(text) == ["Run this:", "Then call twice.", "Also here.", "Done."]


def test_unclosed_code_block_is_never_spoken() -> None:
    assert split_sentences("Look:\n```\nsecret = 1. x = 2.\n") == ["Look:"]


def test_tables_are_read_row_by_row() -> None:
    text = "| Name | Age |\n|:-----|----:|\n| Kim | 30 |\n"
    assert split_sentences(text) == ["Name, Age", "Kim, 30"]


def test_sentences_come_out_as_soon_as_they_end() -> None:
    text = "First one here. Second is 3.5 long! Third."
    out = stream(text)
    # "First one here." is known complete once the next word has started (a capital S).
    assert out[0] == (text.index("Second") + 1, "First one here.")
    assert out[1] == (text.index("Third") + 1, "Second is 3.5 long!")
    assert out[2] == (len(text), "Third.")


def test_line_end_completes_a_sentence_at_once() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("- an item without a stop") == []
    assert splitter.feed("\n") == ["an item without a stop"]


def test_decimal_split_across_deltas_is_not_a_sentence_end() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("It is 3.") == []
    assert splitter.feed("5 metres") == []
    assert splitter.flush() == ["It is 3.5 metres"]


def test_abbreviation_split_across_deltas() -> None:
    splitter = SentenceSplitter()
    assert splitter.feed("Ask Mr.") == []
    assert splitter.feed(" Kim now. ") == []
    assert splitter.feed("He") == ["Ask Mr. Kim now."]


def test_fence_split_across_deltas() -> None:
    out = stream("Code:\n```py\nx = 1. y = 2.\n```\nAfter.", step=2)
    assert [sentence for _, sentence in out] == ["Code:", "After."]


@pytest.mark.parametrize("step", [1, 2, 3, 7, 1000])
def test_same_result_whatever_the_delta_size(step: int) -> None:
    text = (
        "## 요약\n안녕하세요. **중요한** 내용이에요!그리고 `code.here()` 끝.\n"
        "- Item one. Item *two*?\n```\nhidden.\n```\n| a | b |\n마지막 😊"
    )
    expected = split_sentences(text)
    assert expected == [
        "요약",
        "안녕하세요.",
        "중요한 내용이에요!",
        "그리고 끝.",
        "Item one.",
        "Item two?",
        "a, b",
        "마지막",
    ]
    assert [sentence for _, sentence in stream(text, step)] == expected


def test_long_sentence_is_cut_at_a_clause() -> None:
    clause = "and then the story went on for a while"
    text = ", ".join([clause] * 12) + "."
    splitter = SentenceSplitter(max_chars=120)
    early = splitter.feed(text[:200])
    later = splitter.feed(text[200:])
    assert early, "a long sentence must not wait for its full stop"
    assert all(len(part) <= 120 for part in early)
    assert early[0].endswith(",")
    rest = splitter.flush()
    assert " ".join(early + later + rest) == text


def test_flush_resets_for_the_next_reply() -> None:
    splitter = SentenceSplitter()
    splitter.feed("```\nunfinished code")
    assert splitter.flush() == []
    assert splitter.feed("Fresh start. Yes") == ["Fresh start."]


def test_windows_line_endings() -> None:
    assert split_sentences("One\r\nTwo.\r\n") == ["One", "Two."]
