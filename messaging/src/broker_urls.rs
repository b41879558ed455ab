//! A broker address that names one RabbitMQ node or the nodes of a cluster.
//!
//! `--amqp-url` (and every `AmqpConfig::url`) is one URL or several, separated by `,` (the
//! command line) or `|` (the form a payload carries, where a comma separates keys, as in
//! `PORTS=80|443`). A separator counts only where the next URL begins (`amqp://` or
//! `amqps://`), so a comma or bar inside a password stays part of it.

/// The separator of lists we write (payload-safe).
pub const LIST_SEPARATOR: char = '|';

/// The URLs of a list, in order; empty pieces are skipped.
pub fn split(list: &str) -> Vec<&str> {
    let mut urls = Vec::new();
    let mut start = 0;
    for (at, c) in list.char_indices() {
        if (c == ',' || c == '|') && starts_a_url(&list[at + 1..]) {
            urls.push(list[start..at].trim());
            start = at + 1;
        }
    }
    urls.push(list[start..].trim());
    urls.retain(|u| !u.is_empty());
    urls
}

/// `urls` as one list (`|`-separated).
pub fn join<S: AsRef<str>>(urls: &[S]) -> String {
    urls.iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(&LIST_SEPARATOR.to_string())
}

/// The list starting at its `first`-th URL and wrapping around: the order a connection that
/// should live on node `first` tries them in.
pub fn rotated(list: &str, first: usize) -> String {
    let urls = split(list);
    if urls.is_empty() {
        return list.to_string();
    }
    let first = first % urls.len();
    join(&[&urls[first..], &urls[..first]].concat())
}

fn starts_a_url(rest: &str) -> bool {
    let rest = rest.trim_start();
    rest.starts_with("amqp://") || rest.starts_with("amqps://")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_is_a_list_of_one() {
        assert_eq!(
            split("amqp://g:g@h:5672/%2f"),
            vec!["amqp://g:g@h:5672/%2f"]
        );
    }

    #[test]
    fn lists_split_at_commas_and_bars_before_a_scheme() {
        assert_eq!(
            split("amqp://a:1/%2f, amqps://b:2/|amqp://c:3/"),
            vec!["amqp://a:1/%2f", "amqps://b:2/", "amqp://c:3/"]
        );
    }

    #[test]
    fn separators_inside_a_password_are_kept() {
        assert_eq!(
            split("amqp://u:p,w|x@a/,amqp://u:p,w|x@b/"),
            vec!["amqp://u:p,w|x@a/", "amqp://u:p,w|x@b/"]
        );
    }

    #[test]
    fn rotation_starts_at_the_given_node_and_wraps() {
        let list = "amqp://a/,amqp://b/,amqp://c/";
        assert_eq!(rotated(list, 1), "amqp://b/|amqp://c/|amqp://a/");
        assert_eq!(rotated(list, 3), "amqp://a/|amqp://b/|amqp://c/");
        assert_eq!(split(&join(&split(list))), split(list));
    }
}
