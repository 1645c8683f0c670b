from rest_framework.renderers import BaseRenderer


class StreamRenderer(BaseRenderer):
    """Lets content negotiation pick a streamed format; the view writes the body itself."""

    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class CSVRenderer(StreamRenderer):
    media_type = "text/csv"
    format = "csv"


class IATIXMLRenderer(StreamRenderer):
    media_type = "application/xml"
    format = "xml"
