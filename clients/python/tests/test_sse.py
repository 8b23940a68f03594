"""The SSE parser against the WHATWG rules, fed whole, in odd chunks and byte by byte."""

import unittest

from task_executor_client.sse import SseMessage, SseParser


def parse(*chunks, **kwargs):
    parser = SseParser(**kwargs)
    out = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out, parser


def byte_by_byte(data: bytes):
    return parse(*[data[i : i + 1] for i in range(len(data))])


class Fields(unittest.TestCase):
    def test_a_server_frame_gives_its_id_event_and_data(self):
        out, parser = parse(b'retry: 2000\n\n: keepalive\n\nid: 7-3\nevent: trajectory\ndata: {"a":1}\n\n')
        self.assertEqual(out, [SseMessage("trajectory", '{"a":1}', "7-3")])
        self.assertEqual(parser.last_event_id, "7-3")
        self.assertEqual(parser.retry, 2000)

    def test_the_event_type_defaults_to_message_and_resets_after_each_dispatch(self):
        out, _ = parse("event: a\ndata: 1\n\ndata: 2\n\n")
        self.assertEqual([(m.event, m.data) for m in out], [("a", "1"), ("message", "2")])

    def test_data_lines_join_with_a_line_feed(self):
        out, _ = parse("data: one\ndata:\ndata: three\n\n")
        self.assertEqual(out[0].data, "one\n\nthree")

    def test_only_one_space_after_the_colon_is_dropped(self):
        out, _ = parse("data:x\n\ndata:  two spaces \n\n")
        self.assertEqual([m.data for m in out], ["x", " two spaces "])

    def test_a_line_without_a_colon_is_a_field_with_an_empty_value(self):
        out, _ = parse("data\n\n")
        self.assertEqual(out, [SseMessage("message", "", "")])

    def test_a_colon_in_the_value_stays_in_the_value(self):
        out, _ = parse("data: a: b:c\n\n")
        self.assertEqual(out[0].data, "a: b:c")

    def test_unknown_fields_and_case_variants_are_ignored(self):
        out, _ = parse("foo: bar\nData: no\nEVENT: no\ndata: yes\n\n")
        self.assertEqual(out, [SseMessage("message", "yes", "")])

    def test_comments_are_not_messages_and_reach_the_callback(self):
        seen = []
        out, _ = parse(": keepalive\n:x\n\n", on_comment=seen.append)
        self.assertEqual(out, [])
        self.assertEqual(seen, ["keepalive", "x"])

    def test_a_message_without_data_is_not_dispatched_and_its_type_is_dropped(self):
        out, _ = parse("event: lonely\n\ndata: next\n\n")
        self.assertEqual(out, [SseMessage("message", "next", "")])


class Ids(unittest.TestCase):
    def test_an_id_only_message_moves_the_last_event_id_without_dispatching(self):
        out, parser = parse("id: 5-1\n\n")
        self.assertEqual(out, [])
        self.assertEqual(parser.last_event_id, "5-1")

    def test_the_id_persists_to_later_messages_that_carry_none(self):
        out, _ = parse("id: 1-1\ndata: a\n\ndata: b\n\n")
        self.assertEqual([m.id for m in out], ["1-1", "1-1"])

    def test_an_empty_id_clears_it(self):
        out, parser = parse("id: 1-1\ndata: a\n\nid\ndata: b\n\n")
        self.assertEqual([m.id for m in out], ["1-1", ""])
        self.assertEqual(parser.last_event_id, "")

    def test_an_id_containing_nul_is_ignored(self):
        out, _ = parse("id: 1-1\ndata: a\n\nid: 2\x00-2\ndata: b\n\n")
        self.assertEqual([m.id for m in out], ["1-1", "1-1"])

    def test_the_id_of_an_unfinished_message_is_not_the_last_event_id(self):
        out, parser = parse("id: 1-1\ndata: a\n\nid: 2-2\ndata: b\n")
        self.assertEqual([m.id for m in out], ["1-1"])
        self.assertEqual(parser.last_event_id, "1-1")

    def test_a_parser_starts_from_a_given_last_event_id(self):
        out, _ = parse("data: a\n\n", last_event_id="9-9")
        self.assertEqual(out[0].id, "9-9")


class Retry(unittest.TestCase):
    def test_retry_is_taken_only_when_it_is_all_ascii_digits(self):
        cases = [("1500", 1500), (" 7", 7), ("1x", None), ("", None), ("  1", None), ("1 ", None)]
        cases.append(("\u0661", None))  # an Arabic-Indic digit: a digit to Python, not to the spec
        for value, expected in cases:
            _, parser = parse(f"retry:{value}\n\n")
            self.assertEqual(parser.retry, expected, value)


class LineEndings(unittest.TestCase):
    FRAME = "id: 1-2\nevent: e\ndata: a\ndata: b\n\n"
    EXPECTED = [SseMessage("e", "a\nb", "1-2")]

    def test_lf_crlf_and_cr_end_lines_alike(self):
        for eol in ["\n", "\r\n", "\r"]:
            out, _ = parse(self.FRAME.replace("\n", eol))
            self.assertEqual(out, self.EXPECTED, repr(eol))

    def test_mixed_line_endings(self):
        out, _ = parse("id: 1-2\r\nevent: e\rdata: a\ndata: b\r\n\r")
        self.assertEqual(out, self.EXPECTED)

    def test_a_crlf_split_across_chunks_is_one_line_ending(self):
        out, _ = parse("data: a\r", "\ndata: b\r\n\r", "\n")
        self.assertEqual(out, [SseMessage("message", "a\nb", "")])

    def test_a_cr_at_a_chunk_end_then_cr_again_is_an_empty_line(self):
        out, _ = parse("data: a\r", "\r")
        self.assertEqual(out, [SseMessage("message", "a", "")])

    def test_every_ending_survives_byte_by_byte_feeding(self):
        for eol in ["\n", "\r\n", "\r"]:
            out, _ = byte_by_byte(self.FRAME.replace("\n", eol).encode())
            self.assertEqual(out, self.EXPECTED, repr(eol))


class Encoding(unittest.TestCase):
    def test_a_multibyte_character_split_across_chunks_is_decoded_whole(self):
        data = "data: ünïcødé ✓ 🎉\n\n".encode()
        out, _ = byte_by_byte(data)
        self.assertEqual(out[0].data, "ünïcødé ✓ 🎉")

    def test_one_leading_byte_order_mark_is_dropped(self):
        out, _ = parse(b"\xef\xbb", b"\xbfdata: a\n\n")
        self.assertEqual(out, [SseMessage("message", "a", "")])

    def test_a_second_byte_order_mark_is_part_of_the_field_name(self):
        out, _ = parse(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n")
        self.assertEqual([m.data for m in out], ["b"])

    def test_invalid_utf8_becomes_the_replacement_character(self):
        out, _ = parse(b"data: \xff!\n\n")
        self.assertEqual(out[0].data, "\ufffd!")


class Chunking(unittest.TestCase):
    STREAM = (
        b"retry: 2000\n\n: keepalive\n\n"
        b'id: 10-1\nevent: trajectory\ndata: {"k": "v"}\n\n'
        b"id: 10-2\nevent: group.completed\ndata: {}\n\n"
        b": keepalive\n\n"
        b'event: disconnect\ndata: {"reason":"shutdown","cursor":"10-2"}\n\n'
    )

    def test_any_split_gives_the_same_messages(self):
        whole, _ = parse(self.STREAM)
        self.assertEqual([m.event for m in whole], ["trajectory", "group.completed", "disconnect"])
        for size in range(1, 40):
            chunks = [self.STREAM[i : i + size] for i in range(0, len(self.STREAM), size)]
            out, parser = parse(*chunks)
            self.assertEqual(out, whole, size)
            self.assertEqual(parser.last_event_id, "10-2")

    def test_a_message_cut_off_by_the_end_of_the_stream_is_not_dispatched(self):
        out, _ = parse(b"id: 1-1\ndata: a\n\nid: 1-2\nevent: trajectory\ndata: {\"half")
        self.assertEqual([m.id for m in out], ["1-1"])

    def test_a_long_line_in_many_chunks(self):
        body = "x" * 100_000
        data = f"data: {body}\n\n".encode()
        out, _ = parse(*[data[i : i + 7] for i in range(0, len(data), 7)])
        self.assertEqual(out[0].data, body)


if __name__ == "__main__":
    unittest.main()
