"""Lay out a BPMN diagram with its pools and lanes: rewrite the file's diagram (BPMNDI) only.

Why our own layout rather than bpmn-auto-layout (node_modules, 1.3.0): that library lays out
the first process it finds and starts by deleting every diagram (`cleanDi`), so the pool and the
lanes, which are our departments, vanish from the picture. A lane is where a task is routed, so
a diagram without them hides the one thing an administrator must see. This module keeps them:

- columns are ranks: the longest path from a start over the sequence flows, loops (a correction
  sent back to the department) cut where a depth-first walk finds them;
- rows are lanes, in document order; inside a lane each branch keeps its own track (a node
  continues its predecessor's track when no other node sits on the way, else takes the first
  free track), and a lane is as tall as its tracks;
- a boundary event sits on its host's bottom edge; an end event reached only from it hangs
  below it in the host's track, which is made taller for it;
- flows are orthogonal: straight along a track, through the gap before the target's column
  between tracks, and loops back below their source, up the gap and into the target from
  below (gateways, events) or above (tasks);
- external labels (events, gateways, named flows) are put at the first of several places
  beside their element that overlaps no shape and no label already placed.

Only the diagram is rewritten; the process (its semantic part) is left as it is, byte for byte.
`ensure_layout` is for files from other modelers and generators: it lays out only a file whose
diagram is missing or incomplete. Not laid out: text annotations, data objects and the inside
of subprocesses (a subprocess is drawn collapsed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from engine.specs import LANE_DEPARTMENT, SPIFF

BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
BPMNDI = "http://www.omg.org/spec/BPMN/20100524/DI"
DC = "http://www.omg.org/spec/DD/20100524/DC"
DI = "http://www.omg.org/spec/DD/20100524/DI"

ACTIVITIES = {
    "task",
    "userTask",
    "serviceTask",
    "scriptTask",
    "businessRuleTask",
    "manualTask",
    "sendTask",
    "receiveTask",
    "callActivity",
    "subProcess",
    "transaction",
    "adHocSubProcess",
}
EVENTS = {
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
}
GATEWAYS = {
    "exclusiveGateway",
    "inclusiveGateway",
    "parallelGateway",
    "eventBasedGateway",
    "complexGateway",
}
FLOW_NODES = ACTIVITIES | EVENTS | GATEWAYS

GAP = 110  # between columns: room for flows turning and for labels beside gateways
TRACK = 130  # a track's height; shapes are centred on its middle line
HANG = 100  # added below a track whose tasks have boundary events leading to hanging ends
POOL_BAND = 30  # the vertical name band of a pool, and of a lane
PAD = 40  # between the lane band and the first column, and after the last
LABEL_WIDTH = 90  # bpmn-js wraps external labels at this width
LINE = 14  # height of a label's line (11 px text)


def _parse(content: bytes) -> etree._Element:
    """The file's root, read without entities, DTDs or the network; whitespace kept, so that
    the process part is written back as it was."""
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    return etree.fromstring(content, parser)


def _q(namespace: str, name: str) -> str:
    return f"{{{namespace}}}{name}"


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname if isinstance(element.tag, str) else ""


@dataclass
class Box:
    x: float
    y: float
    w: float
    h: float

    @property
    def cx(self) -> float:
        return self.x + self.w / 2

    @property
    def cy(self) -> float:
        return self.y + self.h / 2

    @property
    def right(self) -> float:
        return self.x + self.w

    @property
    def bottom(self) -> float:
        return self.y + self.h

    def overlaps(self, other: Box) -> bool:
        return (
            self.x < other.right
            and other.x < self.right
            and self.y < other.bottom
            and other.y < self.bottom
        )

    def inside(self, other: Box) -> bool:
        return (
            self.x >= other.x
            and self.y >= other.y
            and self.right <= other.right
            and self.bottom <= other.bottom
        )


def text_size(text: str) -> tuple[float, float]:
    """The box a label's text takes: CJK characters about 12 px wide, others about 7, wrapped
    at bpmn-js's label width."""
    lines, width, longest = 1, 0.0, 0.0
    for char in text.strip():
        step = 12.0 if ord(char) > 0x2E80 else 7.0
        if width + step > LABEL_WIDTH:
            lines += 1
            longest = max(longest, width)
            width = 0.0
        width += step
    return max(longest, width, 10.0) + 4, lines * LINE


def shape_size(kind: str) -> tuple[float, float]:
    if kind in ACTIVITIES:
        return 100.0, 80.0
    if kind in GATEWAYS:
        return 50.0, 50.0
    return 36.0, 36.0


@dataclass
class _Node:
    id: str
    kind: str
    element: etree._Element
    lane: str | None
    rank: int = 0
    track: int = 0
    box: Box = field(default_factory=lambda: Box(0, 0, 0, 0))


@dataclass
class Drawing:
    """The diagram of one file: shapes, flow waypoints and labels by BPMN element id."""

    shapes: dict[str, Box] = field(default_factory=dict)
    edges: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    labels: dict[str, Box] = field(default_factory=dict)
    horizontal: set[str] = field(default_factory=set)  # pools and lanes
    expanded: dict[str, bool] = field(default_factory=dict)


class _ProcessLayout:
    """The layout of one process, in a pool (participant) or alone, from (x0, y0)."""

    def __init__(self, process: etree._Element, x0: float, y0: float, pool: str | None):
        self.process, self.x0, self.y0, self.pool = process, x0, y0, pool
        all_lanes = list(process.iter(_q(BPMN, "lane")))
        # a lane inside a lane (childLaneSet) sits one name band further right
        self.depth = {
            lane.get("id"): sum(1 for a in lane.iterancestors(_q(BPMN, "lane")))
            for lane in all_lanes
        }
        self.lanes = [lane for lane in all_lanes if lane.find(_q(BPMN, "childLaneSet")) is None]
        self.parent_lanes = [lane for lane in all_lanes if lane not in self.lanes]
        lane_of = {}
        for lane in self.lanes:
            for ref in lane.findall(_q(BPMN, "flowNodeRef")):
                if ref.text:
                    lane_of[ref.text.strip()] = lane.get("id")
        self.nodes: dict[str, _Node] = {}
        for element in process:
            kind = _local(element)
            if kind in FLOW_NODES and element.get("id"):
                node_id = element.get("id")
                self.nodes[node_id] = _Node(node_id, kind, element, lane_of.get(node_id))
        self.flows = [
            (f.get("id"), f.get("sourceRef"), f.get("targetRef"), f)
            for f in process.findall(_q(BPMN, "sequenceFlow"))
            if f.get("sourceRef") in self.nodes and f.get("targetRef") in self.nodes
        ]
        self.host = {
            n.id: n.element.get("attachedToRef")
            for n in self.nodes.values()
            if n.kind == "boundaryEvent" and n.element.get("attachedToRef") in self.nodes
        }
        self.drawing = Drawing()

    # ------------------------------------------------------------------ structure

    def _hanging(self) -> dict[str, str]:
        """Nodes drawn below a boundary event rather than in a column: reached only from it, in
        its host's lane, leading nowhere (a deadline's end event)."""
        incoming: dict[str, list[str]] = {}
        outgoing: set[str] = set()
        for _id, source, target, _el in self.flows:
            incoming.setdefault(target, []).append(source)
            outgoing.add(source)
        hanging = {}
        for node_id, sources in incoming.items():
            if len(sources) != 1 or sources[0] not in self.host or node_id in outgoing:
                continue
            host = self.nodes[self.host[sources[0]]]
            if self.nodes[node_id].lane == host.lane and node_id not in self.host:
                hanging[node_id] = sources[0]
        return hanging

    def _rank(self, grid: list[str]) -> set[str]:
        """Set each grid node's rank (column); the ids of the flows that loop back."""
        members = set(grid)
        adjacency: dict[str, list[tuple[str, str]]] = {n: [] for n in grid}
        has_incoming: set[str] = set()
        for flow_id, source, target, _el in self.flows:
            source = self.host.get(source, source)
            if source in members and target in members and source != target:
                adjacency[source].append((flow_id, target))
                has_incoming.add(target)
        starts = [n for n in grid if self.nodes[n].kind == "startEvent"]
        roots = starts + [n for n in grid if n not in has_incoming and n not in starts]
        state: dict[str, int] = {}
        back: set[str] = set()
        self.order: dict[str, int] = {}
        for root in roots + grid:
            if root in state:
                continue
            state[root] = 1
            self.order[root] = len(self.order)
            stack = [(root, iter(adjacency[root]))]
            while stack:
                node, successors = stack[-1]
                for flow_id, target in successors:
                    if state.get(target) == 1:
                        back.add(flow_id)
                    elif target not in state:
                        state[target] = 1
                        self.order[target] = len(self.order)
                        stack.append((target, iter(adjacency[target])))
                        break
                else:
                    state[node] = 2
                    stack.pop()
        indegree = dict.fromkeys(grid, 0)
        forward: dict[str, list[str]] = {n: [] for n in grid}
        for node, successors in adjacency.items():
            for flow_id, target in successors:
                if flow_id not in back:
                    forward[node].append(target)
                    indegree[target] += 1
        ready = sorted((n for n in grid if indegree[n] == 0), key=self.order.get)
        while ready:
            node = ready.pop(0)
            for target in forward[node]:
                self.nodes[target].rank = max(self.nodes[target].rank, self.nodes[node].rank + 1)
                indegree[target] -= 1
                if indegree[target] == 0:
                    ready.append(target)
        self.forward_preds: dict[str, list[str]] = {n: [] for n in grid}
        for node, targets in forward.items():
            for target in targets:
                self.forward_preds[target].append(node)
        return back

    def _tracks(self, grid: list[str]) -> dict[str | None, int]:
        """Give each grid node a track in its lane; the number of tracks of each lane."""
        cells: dict[str | None, list[set[int]]] = {}
        for node_id in sorted(grid, key=lambda n: (self.nodes[n].rank, self.order[n])):
            node = self.nodes[node_id]
            tracks = cells.setdefault(node.lane, [])
            chosen = None
            predecessors = [
                self.nodes[p]
                for p in self.forward_preds[node_id]
                if self.nodes[p].lane == node.lane and self.nodes[p].rank < node.rank
            ]
            for pred in sorted(predecessors, key=lambda p: p.track):
                span = range(pred.rank + 1, node.rank + 1)
                if all(c not in tracks[pred.track] for c in span):
                    chosen = pred.track
                    tracks[chosen].update(span)
                    break
            if chosen is None:
                chosen = next((i for i, t in enumerate(tracks) if node.rank not in t), None)
                if chosen is None:
                    tracks.append(set())
                    chosen = len(tracks) - 1
                tracks[chosen].add(node.rank)
            node.track = chosen
        return {lane: len(tracks) for lane, tracks in cells.items()}

    # ------------------------------------------------------------------ geometry

    def run(self) -> Drawing:
        hanging = self._hanging()
        grid = [n for n in self.nodes if n not in self.host and n not in hanging]
        back = self._rank(grid)
        counts = self._tracks(grid)
        columns = max((self.nodes[n].rank for n in grid), default=0) + 1
        widths = [36.0] * columns
        for n in grid:
            node = self.nodes[n]
            widths[node.rank] = max(widths[node.rank], shape_size(node.kind)[0])
        bands = 2 + max(self.depth.values(), default=0) if self.lanes else 1 if self.pool else 0
        left = self.x0 + bands * POOL_BAND + PAD
        self.col_x, x = [], left
        for width in widths:
            self.col_x.append(x)
            x += width + GAP
        right = x - GAP + PAD

        boundaries: dict[str, list[str]] = {}
        for event, host in self.host.items():
            boundaries.setdefault(host, []).append(event)
        tall: dict[tuple[str | None, int], int] = {}  # tracks with ends hanging below
        for host, events in boundaries.items():
            if any(event in hanging.values() for event in events):
                key = (self.nodes[host].lane, self.nodes[host].track)
                tall[key] = max(tall.get(key, 0), len(events))
        rows: list[str | None] = [lane.get("id") for lane in self.lanes]
        if None in counts or not rows:
            rows.append(None)
        track_top: dict[tuple[str | None, int], float] = {}
        track_height: dict[tuple[str | None, int], float] = {}
        lane_box: dict[str | None, Box] = {}
        y = self.y0
        for row in rows:
            top = y
            for track in range(max(counts.get(row, 0), 1)):
                track_top[(row, track)] = y
                extra = tall.get((row, track), 0)
                track_height[(row, track)] = TRACK + (HANG + 50 * max(extra - 2, 0) if extra else 0)
                y += track_height[(row, track)]
            lane_x = self.x0 + POOL_BAND * (1 + self.depth.get(row, 0))
            lane_box[row] = Box(lane_x, top, right - lane_x, y - top)
        self.bottom = y
        self.right = right
        shapes = self.drawing.shapes
        if self.pool:
            shapes[self.pool] = Box(self.x0, self.y0, right - self.x0, y - self.y0)
            self.drawing.horizontal.add(self.pool)
        for lane in self.lanes:
            shapes[lane.get("id")] = lane_box[lane.get("id")]
            self.drawing.horizontal.add(lane.get("id"))
        for lane in self.parent_lanes:  # around the lanes it holds
            inner = [
                lane_box[leaf.get("id")]
                for leaf in lane.iter(_q(BPMN, "lane"))
                if leaf.get("id") in lane_box and leaf is not lane
            ]
            if inner:
                lane_x = self.x0 + POOL_BAND * (1 + self.depth[lane.get("id")])
                top, bottom = min(b.y for b in inner), max(b.bottom for b in inner)
                shapes[lane.get("id")] = Box(lane_x, top, right - lane_x, bottom - top)
                self.drawing.horizontal.add(lane.get("id"))
        self.lane_box = lane_box
        self.track_top = track_top
        self.track_height = track_height
        for n in grid:
            node = self.nodes[n]
            w, h = shape_size(node.kind)
            cx = self.col_x[node.rank] + widths[node.rank] / 2
            cy = track_top[(node.lane, node.track)] + TRACK / 2
            node.box = Box(cx - w / 2, cy - h / 2, w, h)
            shapes[n] = node.box
            if node.kind == "subProcess":
                self.drawing.expanded[n] = False
        self.sides: dict[str, str] = {}
        for host, events in boundaries.items():
            hbox = self.nodes[host].box
            for i, event in enumerate(events):
                if len(events) > 1 and 2 * i + 1 != len(events):
                    self.sides[event] = "left" if 2 * i + 1 < len(events) else "right"
                cx = hbox.x + hbox.w * (2 * i + 1) / (2 * len(events))
                self.nodes[event].box = Box(cx - 18, hbox.bottom - 18, 36, 36)
                shapes[event] = self.nodes[event].box
        for target, event in hanging.items():
            ebox = self.nodes[event].box
            events = boundaries[self.host[event]]
            depth = events.index(event) * 50 if len(events) > 2 else 0
            w, h = shape_size(self.nodes[target].kind)
            box = Box(ebox.cx - w / 2, ebox.bottom + 42 + depth, w, h)
            self.nodes[target].box = box
            shapes[target] = box
            if event in self.sides:
                self.sides[target] = self.sides[event]
        self.widths = widths
        self._route(back, hanging)
        return self.drawing

    def _gap(self, column: int) -> float:
        """The middle of the gap before `column`."""
        return self.col_x[column] - GAP / 2

    def _route(self, back: set[str], hanging: dict[str, str]) -> None:
        slots: dict[tuple[int, str], float] = {}
        used: dict[int, int] = {}

        def channel(column: int, key: str) -> float:
            if (column, key) not in slots:
                k = used.get(column, 0)
                used[column] = k + 1
                offset = ((k + 1) // 2) * 12 * (1 if k % 2 else -1)
                slots[(column, key)] = self._gap(column) + offset
            return slots[(column, key)]

        splits: dict[str, int] = {}  # a split's flows share one channel (a bus)
        for flow_id, source_id, _t, _el in self.flows:
            if flow_id not in back:
                splits[source_id] = splits.get(source_id, 0) + 1
        # loops leave below their source and run left: on one track, the one from furthest
        # right runs lowest, so that no run passes under another's way down
        loops: dict[tuple[str | None, int], list[str]] = {}
        for flow_id, source_id, target_id, _el in self.flows:
            s, t = self.nodes[source_id], self.nodes[target_id]
            if source_id not in self.host and (flow_id in back or t.rank <= s.rank):
                loops.setdefault((s.lane, s.track), []).append(flow_id)
        level: dict[str, float] = {}
        sources = {flow_id: source_id for flow_id, source_id, _t, _el in self.flows}
        for (lane, track), flows in loops.items():
            flows.sort(key=lambda f: -self.nodes[sources[f]].box.x)
            step = min(8.0, 18.0 / max(len(flows) - 1, 1))
            bottom = self.track_top[(lane, track)] + self.track_height[(lane, track)] - 8
            for k, flow_id in enumerate(flows):
                level[flow_id] = bottom - k * step
        for flow_id, source_id, target_id, _el in self.flows:
            s, t = self.nodes[source_id], self.nodes[target_id]
            a, b = s.box, t.box
            if source_id in self.host:
                if target_id in hanging:
                    points = [(a.cx, a.bottom), (a.cx, b.y)]
                else:
                    turn = a.bottom + 16
                    x = channel(max(t.rank, s.rank + 1), target_id)
                    points = [(a.cx, a.bottom), (a.cx, turn), (x, turn), (x, b.cy), (b.x, b.cy)]
            elif flow_id in back or t.rank <= s.rank:
                under = max(level[flow_id], a.bottom + 8)
                x = channel(t.rank, "back:" + flow_id)
                if t.kind in ACTIVITIES:
                    entry = b.y - 14
                    points = [(a.cx, a.bottom), (a.cx, under), (x, under), (x, entry)]
                    points += [(b.cx - 20, entry), (b.cx - 20, b.y)]
                else:
                    entry = b.bottom + 14
                    points = [(a.cx, a.bottom), (a.cx, under), (x, under), (x, entry)]
                    points += [(b.cx, entry), (b.cx, b.bottom)]
            elif abs(a.cy - b.cy) < 1:
                points = [(a.right, a.cy), (b.x, b.cy)]
            else:
                x = channel(t.rank, source_id if splits.get(source_id, 0) > 1 else target_id)
                points = [(a.right, a.cy), (x, a.cy), (x, b.cy), (b.x, b.cy)]
            self.drawing.edges[flow_id] = _simplify(points)


def _simplify(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Drop repeated points and the middle of three on one line."""
    out: list[tuple[float, float]] = []
    for point in points:
        if out and abs(out[-1][0] - point[0]) < 0.5 and abs(out[-1][1] - point[1]) < 0.5:
            continue
        if len(out) >= 2:
            (x1, y1), (x2, y2) = out[-2], out[-1]
            if (abs(x1 - x2) < 0.5 and abs(x2 - point[0]) < 0.5) or (
                abs(y1 - y2) < 0.5 and abs(y2 - point[1]) < 0.5
            ):
                out[-1] = point
                continue
        out.append(point)
    return out


# ---------------------------------------------------------------------- labels


def _node_candidates(box: Box, w: float, h: float, side: str | None) -> list[Box]:
    """Places for a shape's label, nearest first: below, above, right, left, then further; a
    boundary event and what hangs below it take their side first (the left one of two to the
    left, the right one to the right), so two such labels never fight for the same place."""
    cx, cy = box.cx, box.cy
    left = [Box(box.x - 4 - w, cy + 2, w, h), Box(box.x - 6 - w, cy - h / 2, w, h)]
    right = [Box(box.right + 4, cy + 2, w, h), Box(box.right + 6, cy - h / 2, w, h)]
    places = left + right if side == "left" else right + left if side == "right" else []
    places += [
        Box(cx - w / 2, box.bottom + 5, w, h),
        Box(cx - w / 2, box.y - 5 - h, w, h),
        Box(box.right + 6, cy - h / 2, w, h),
        Box(box.x - 6 - w, cy - h / 2, w, h),
        Box(box.right + 4, box.bottom + 2, w, h),
        Box(box.x - 4 - w, box.bottom + 2, w, h),
        Box(box.right + 4, box.y - 2 - h, w, h),
        Box(box.x - 4 - w, box.y - 2 - h, w, h),
    ]
    for step in range(1, 8):
        places.append(Box(cx - w / 2, box.bottom + 5 + step * LINE, w, h))
        places.append(Box(cx - w / 2, box.y - 5 - h - step * LINE, w, h))
    return places


def _flow_candidates(points: list[tuple[float, float]], w: float, h: float) -> list[Box]:
    """Places for a flow's label beside its segments, nearest its start first and after the
    first bend before the first segment (which a split's flows often share)."""
    segments = list(zip(points, points[1:], strict=False))
    order = segments[1:2] + segments[:1] + segments[2:]
    places = []
    for (x1, y1), (x2, y2) in order:
        length = abs(x2 - x1) + abs(y2 - y1)
        steps = [k * 16.0 for k in range(6) if k * 16.0 + 8 < length] or [0.0]
        if abs(y1 - y2) < 0.5:  # horizontal
            ahead = 1 if x2 > x1 else -1
            for step in steps:
                x = x1 + ahead * (8 + step) - (w if ahead < 0 else 0)
                places += [Box(x, y1 - 4 - h, w, h), Box(x, y1 + 4, w, h)]
        else:
            down = 1 if y2 > y1 else -1
            for step in steps:
                y = y1 + down * (6 + step) - (h if down < 0 else 0)
                places += [Box(x1 + 5, y, w, h), Box(x1 - 5 - w, y, w, h)]
    for (x1, y1), (x2, y2) in order:  # then the middle of each segment
        if abs(y1 - y2) < 0.5:
            places += [
                Box((x1 + x2) / 2 - w / 2, y1 - 4 - h, w, h),
                Box((x1 + x2) / 2 - w / 2, y1 + 4, w, h),
            ]
        else:
            places += [
                Box(x1 + 5, (y1 + y2) / 2 - h / 2, w, h),
                Box(x1 - 5 - w, (y1 + y2) / 2 - h / 2, w, h),
            ]
    return places


def _place_labels(
    drawing: Drawing,
    named: list[tuple[str, str, bool]],
    containers: dict[str, Box],
    sides: dict[str, str],
) -> None:
    """Give each named element (id, text, is_flow) a label box overlapping no shape and no
    other label, inside its lane when it has one."""
    obstacles = [
        (element_id, box)
        for element_id, box in drawing.shapes.items()
        if element_id not in drawing.horizontal
    ]
    placed: list[Box] = []
    for element_id, text, is_flow in named:
        w, h = text_size(text)
        if is_flow:
            points = drawing.edges.get(element_id)
            if not points:
                continue
            places = _flow_candidates(points, w, h)
        else:
            places = _node_candidates(drawing.shapes[element_id], w, h, sides.get(element_id))
        container = containers.get(element_id)

        def free(box: Box, container: Box | None = container) -> bool:
            if container is not None and not box.inside(container):
                return False
            return not any(box.overlaps(o) for _i, o in obstacles) and not any(
                box.overlaps(p) for p in placed
            )

        chosen = next((box for box in places if free(box)), places[0])
        drawing.labels[element_id] = chosen
        placed.append(chosen)


# ---------------------------------------------------------------------- the file


def _number(value: float) -> str:
    return str(int(round(value)))


def layout_drawing(root: etree._Element) -> tuple[Drawing, str]:
    """The drawing of a parsed definitions element and the id of its plane's element."""
    processes = {p.get("id"): p for p in root.findall(_q(BPMN, "process"))}
    collaboration = root.find(_q(BPMN, "collaboration"))
    drawing = Drawing()
    layouts: list[_ProcessLayout] = []
    y = 0.0
    pooled = []
    if collaboration is not None:
        for participant in collaboration.findall(_q(BPMN, "participant")):
            process = processes.get(participant.get("processRef") or "")
            pooled.append((process, participant.get("id")))
    else:
        pooled = [(next(iter(processes.values()), None), None)]
    for process, pool in pooled:
        if process is None:  # a pool without a process (a partner's black box)
            drawing.shapes[pool] = Box(0, y, 600, 100)
            drawing.horizontal.add(pool)
            y += 130
            continue
        layout = _ProcessLayout(process, 0, y, pool)
        part = layout.run()
        layouts.append(layout)
        for name in ("shapes", "edges", "labels", "expanded"):
            getattr(drawing, name).update(getattr(part, name))
        drawing.horizontal |= part.horizontal
        y = layout.bottom + 30
    widest = max((box.right for box in drawing.shapes.values()), default=0)
    for element_id in drawing.horizontal:  # pools and lanes end on one line
        box = drawing.shapes[element_id]
        box.w = widest - box.x
    named: list[tuple[str, str, bool]] = []
    containers: dict[str, Box] = {}
    sides: dict[str, str] = {}
    for layout in layouts:
        sides.update(layout.sides)
        for node in layout.nodes.values():
            name = (node.element.get("name") or "").strip()
            if name and node.kind in EVENTS | GATEWAYS and node.id in drawing.shapes:
                named.append((node.id, name, False))
                containers[node.id] = layout.lane_box.get(node.lane) or Box(
                    node.box.x - 500, node.box.y - 500, 1000, 1000
                )
        for flow_id, _s, _t, element in layout.flows:
            name = (element.get("name") or "").strip()
            if name:
                named.append((flow_id, name, True))
    _place_labels(drawing, named, containers, sides)
    if collaboration is not None:
        message_flows = collaboration.findall(_q(BPMN, "messageFlow"))
        for flow in message_flows:
            source = drawing.shapes.get(flow.get("sourceRef") or "")
            target = drawing.shapes.get(flow.get("targetRef") or "")
            if source and target:
                down = target.y > source.y
                start = source.bottom if down else source.y
                end = target.y if down else target.bottom
                middle = (start + end) / 2
                drawing.edges[flow.get("id")] = _simplify(
                    [(source.cx, start), (source.cx, middle), (target.cx, middle), (target.cx, end)]
                )
    plane_element = (
        collaboration.get("id") if collaboration is not None else next(iter(processes), "")
    )
    return drawing, plane_element


def _write(root: etree._Element, drawing: Drawing, plane_element: str) -> None:
    """Replace the file's diagrams by one drawing of `drawing`, keeping the ids it had."""
    old_ids: dict[str, str] = {}
    diagram_id, plane_id, tail = "BPMNDiagram_1", "BPMNPlane_1", "\n"
    old = root.findall(_q(BPMNDI, "BPMNDiagram"))
    for index, diagram in enumerate(old):
        if index == 0:
            diagram_id = diagram.get("id") or diagram_id
            plane = diagram.find(_q(BPMNDI, "BPMNPlane"))
            if plane is not None:
                plane_id = plane.get("id") or plane_id
            tail = diagram.tail or tail
        for element in diagram.iter():
            if element.get("bpmnElement") and element.get("id"):
                old_ids.setdefault(element.get("bpmnElement"), element.get("id"))
        root.remove(diagram)
    missing = {
        prefix: uri
        for prefix, uri in (("bpmndi", BPMNDI), ("dc", DC), ("di", DI))
        if uri not in root.nsmap.values()
    }
    diagram = etree.SubElement(root, _q(BPMNDI, "BPMNDiagram"), nsmap=missing or None)
    diagram.set("id", diagram_id)
    plane = etree.SubElement(diagram, _q(BPMNDI, "BPMNPlane"), id=plane_id)
    plane.set("bpmnElement", plane_element)
    gateways = {
        el.get("id") for el in root.iter() if _local(el) == "exclusiveGateway" and el.get("id")
    }

    def bounds(parent: etree._Element, box: Box) -> None:
        etree.SubElement(
            parent,
            _q(DC, "Bounds"),
            x=_number(box.x),
            y=_number(box.y),
            width=_number(box.w),
            height=_number(box.h),
        )

    for element_id, box in drawing.shapes.items():
        shape = etree.SubElement(plane, _q(BPMNDI, "BPMNShape"))
        shape.set("id", old_ids.get(element_id, f"{element_id}_di"))
        shape.set("bpmnElement", element_id)
        if element_id in drawing.horizontal:
            shape.set("isHorizontal", "true")
        if element_id in gateways:
            shape.set("isMarkerVisible", "true")
        if element_id in drawing.expanded:
            shape.set("isExpanded", "true" if drawing.expanded[element_id] else "false")
        bounds(shape, box)
        if element_id in drawing.labels:
            bounds(etree.SubElement(shape, _q(BPMNDI, "BPMNLabel")), drawing.labels[element_id])
    for element_id, points in drawing.edges.items():
        edge = etree.SubElement(plane, _q(BPMNDI, "BPMNEdge"))
        edge.set("id", old_ids.get(element_id, f"{element_id}_di"))
        edge.set("bpmnElement", element_id)
        for x, y in points:
            etree.SubElement(edge, _q(DI, "waypoint"), x=_number(x), y=_number(y))
        if element_id in drawing.labels:
            bounds(etree.SubElement(edge, _q(BPMNDI, "BPMNLabel")), drawing.labels[element_id])
    etree.indent(diagram, space="  ", level=1)
    previous = diagram.getprevious()
    if previous is not None and not (previous.tail or "").strip():
        previous.tail = "\n  "
    diagram.tail = tail


def layout(content: bytes) -> bytes:
    """`content` with its diagram laid out anew (see the module docstring); the process
    itself is not touched."""
    root = _parse(content)
    drawing, plane_element = layout_drawing(root)
    _write(root, drawing, plane_element)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def missing_diagram(root: etree._Element) -> list[str]:
    """Ids of the pools, lanes, flow nodes and sequence flows that have no diagram element."""
    drawn = {el.get("bpmnElement") for el in root.iter(_q(BPMNDI, "BPMNShape"))}
    drawn |= {el.get("bpmnElement") for el in root.iter(_q(BPMNDI, "BPMNEdge"))}
    wanted = []
    for element in root.iter():
        kind = _local(element)
        if kind in FLOW_NODES | {"sequenceFlow", "participant", "lane"} and element.get("id"):
            parent = _local(element.getparent())
            if kind in FLOW_NODES | {"sequenceFlow"} and parent != "process":
                continue  # inside a subprocess: drawn on the subprocess's own plane
            wanted.append(element.get("id"))
    return [element_id for element_id in wanted if element_id not in drawn]


def ensure_layout(content: bytes) -> bytes:
    """`content` as it is when its diagram draws every pool, lane, flow node and flow; laid out
    anew when something is missing (files written by generators or by modelers that draw no
    diagram). A file that is not XML is returned as it is, for the validator to explain."""
    try:
        root = _parse(content)
    except etree.XMLSyntaxError:
        return content
    if root.getroottree().docinfo.doctype or not missing_diagram(root):
        return content  # a DOCTYPE is refused by the validator, not drawn
    try:
        drawing, plane_element = layout_drawing(root)
    except (KeyError, ValueError, IndexError, TypeError, AttributeError):
        return content  # a structure too broken to draw: the validator names what is wrong
    _write(root, drawing, plane_element)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def bind_lanes(content: bytes, names: dict[str, str]) -> bytes:
    """`content` with each lane whose department code (its `department` property, else its
    name) is in `names` bound to that code by the property and named `names[code]`, the
    department's name a person reads. The caller knows the departments; the engine does not."""
    root = _parse(content)
    ns = {"bpmn": BPMN, "spiffworkflow": SPIFF}
    for lane in root.iter(_q(BPMN, "lane")):
        bound = lane.find("bpmn:extensionElements/spiffworkflow:properties", ns)
        prop = (
            bound.find(f"spiffworkflow:property[@name='{LANE_DEPARTMENT}']", ns)
            if bound is not None
            else None
        )
        code = prop.get("value") if prop is not None else lane.get("name") or ""
        if code not in names:
            continue
        lane.set("name", names[code])
        if prop is not None:
            continue
        indent = lane.text if (lane.text or "").strip() == "" and lane.text else "\n"
        inner = indent + "  "
        extensions = lane.find(_q(BPMN, "extensionElements"))
        if extensions is None:
            extensions = etree.Element(_q(BPMN, "extensionElements"))
            extensions.text, extensions.tail = inner, indent
            lane.insert(0, extensions)
            lane.text = indent
        if bound is None:
            bound = etree.SubElement(extensions, _q(SPIFF, "properties"))
            bound.text, bound.tail = inner + "  ", indent
        prop = etree.SubElement(bound, _q(SPIFF, "property"), name=LANE_DEPARTMENT, value=code)
        prop.tail = inner
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
