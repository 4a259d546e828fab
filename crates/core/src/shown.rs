//! What a message shows of a value it quotes (a refused field, a request id from Fauna): at most
//! [`SHOWN_BYTES`], so that no payload or answer, however large, is echoed into an error, an
//! answer or a log line.

/// How much of a quoted value a message shows; see [`clip`].
pub const SHOWN_BYTES: usize = 96;

/// A value as a message shows it: whole if at most `max` bytes, else its head and tail around
/// its length.
pub fn clip(value: &str, max: usize) -> String {
    if value.len() <= max {
        return value.to_owned();
    }
    let head = &value[..value.floor_char_boundary(max / 2)];
    let tail = &value[value.ceil_char_boundary(value.len() - max / 2)..];
    format!("{head}…[{} bytes]…{tail}", value.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_values_are_clipped_on_char_boundaries() {
        assert_eq!(clip("short", 8), "short");
        let long = format!("{}{}", "é".repeat(100), "z".repeat(100));
        assert_eq!(clip(&long, 20), "ééééé…[300 bytes]…zzzzzzzzzz");
        let odd = clip(&"é".repeat(100), 21);
        assert!(odd.starts_with("éééé") && odd.ends_with("éééé"), "{odd}");
    }
}
