"""The host link: framed commands over a UART, in front of an engine
(``HostLink``), made of a frame receiver, a dispatcher and a replier."""

from .dispatcher import Dispatcher
from .framing import link_sizes
from .host_link import HostLink
from .receiver import FrameReceiver
from .replier import Replier

__all__ = ["HostLink", "link_sizes", "FrameReceiver", "Dispatcher", "Replier"]
