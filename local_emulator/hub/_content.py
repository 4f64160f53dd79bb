"""Posts, comments and DMs in memory, with the Hub's search and discovery over them."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from ._model import Author, Comment, DirectMessage, Post, new_id


def bare_community(name: str | None) -> str | None:
    """``m/General`` and ``general`` are the same community."""
    if name is None:
        return None
    bare = name.strip().removeprefix("/").strip()
    if bare.lower().startswith("m/"):
        bare = bare[2:]
    return bare.strip().lower() or None


def _csv(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class ContentStore:
    """Everything created, in creation order; comments are also indexed by id and by post.

    A reply looks up its parent comment and reading a thread lists the post's comments,
    so neither scans every comment on the Hub. Only ``add_comment`` and ``clear`` change
    ``comments``, keeping the indexes in step.
    """

    def __init__(self, *, id_tag: str = "") -> None:
        self.id_tag = id_tag
        self.posts: dict[str, Post] = {}
        self.comments: list[Comment] = []
        self.dms: list[DirectMessage] = []
        self._comments_by_id: dict[str, Comment] = {}
        self._comments_of: dict[str, list[Comment]] = {}

    def clear(self) -> None:
        self.posts.clear()
        self.comments.clear()
        self.dms.clear()
        self._comments_by_id.clear()
        self._comments_of.clear()

    def add_post(
        self,
        author: Author,
        content: str,
        *,
        at: datetime,
        title: str | None = None,
        community: str | None = None,
        parent_id: str | None = None,
    ) -> Post:
        post = Post(
            id=new_id("post", self.id_tag),
            author=author,
            content=content,
            created_at=at,
            title=title,
            community=bare_community(community),
            parent_id=parent_id,
        )
        self.posts[post.id] = post
        return post

    def add_comment(
        self, post: Post, author: Author, content: str, *, at: datetime, parent_id: str | None = None
    ) -> Comment:
        comment = Comment(
            id=new_id("cmt", self.id_tag),
            post_id=post.id,
            author=author,
            content=content,
            created_at=at,
            parent_id=parent_id,
        )
        self.comments.append(comment)
        self._comments_by_id[comment.id] = comment
        self._comments_of.setdefault(post.id, []).append(comment)
        return comment

    def add_dm(self, sender: Author, recipient_id: str, content: str, *, at: datetime) -> DirectMessage:
        dm = DirectMessage(
            id=new_id("dm", self.id_tag), sender=sender, recipient_id=recipient_id, content=content, created_at=at
        )
        self.dms.append(dm)
        return dm

    def comment(self, comment_id: str) -> Comment | None:
        return self._comments_by_id.get(comment_id)

    def comments_of(self, post_id: str) -> list[Comment]:
        """The post's comments, oldest first."""
        return list(self._comments_of.get(post_id, ()))

    def search(
        self, query: str, *, community: str | None = None, author: str | None = None, limit: int = 20
    ) -> list[Post]:
        """Posts holding every word of ``query`` (title or text, any case), newest first."""
        words = query.lower().split()
        where = bare_community(community)
        found = [
            p
            for p in self._newest_first(self.posts.values())
            if all(w in f"{p.title or ''} {p.content}".lower() for w in words)
            and (where is None or p.community == where)
            and (author is None or author in (p.author.id, p.author.name))
        ]
        return found[:limit]

    def discover(
        self,
        agent: Author,
        *,
        communities: str | None,
        keywords: str | None,
        exclude_responded: bool,
        limit: int,
    ) -> list[Post]:
        """Top-level posts by others, in one of ``communities`` or holding one of ``keywords``.

        With neither filter every post qualifies; ``exclude_responded`` drops posts the
        agent has commented on. Newest first.
        """
        wanted = {bare_community(c) for c in _csv(communities)}
        words = [k.lower() for k in _csv(keywords)]
        responded = {c.post_id for c in self.comments if c.author.id == agent.id} if exclude_responded else set()
        found = []
        for post in self._newest_first(self.posts.values()):
            if post.parent_id is not None or post.author.id == agent.id or post.id in responded:
                continue
            text = f"{post.title or ''} {post.content}".lower()
            in_community = post.community in wanted
            has_keyword = any(w in text for w in words)
            if (not wanted and not words) or in_community or has_keyword:
                found.append(post)
        return found[:limit]

    @staticmethod
    def _newest_first(posts: Iterable[Post]) -> list[Post]:
        return list(reversed(list(posts)))  # insertion order is creation order
